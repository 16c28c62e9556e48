package client

import (
	"context"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/internal/loopback"
	"github.com/logstream/logstream/pkg/wire"
)

// A Send finding the producer connected with nothing in flight writes the
// PRODUCE itself: the frame reaches the broker from a producer whose
// session goroutine does not run (only its connection is set here), where
// waking that goroutine would have sent nothing.
func TestIdleSendWritesItself(t *testing.T) {
	nc, bc := loopback.TCPPair(t)
	conn, broker := framed.NewWith(nc, framed.Options{Queue: 4}), framed.NewWith(bc, framed.Options{Queue: 4})
	defer conn.Close()
	defer broker.Close()

	p := NewProducer(Options{ClientID: "p1"}, ProducerOptions{Topic: "t"})
	p.conn = conn // what session does once connected
	if err := p.Send(context.Background(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	broker.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := broker.Recv()
	if err != nil {
		t.Fatalf("no PRODUCE reached the broker: %v", err)
	}
	var m wire.Produce
	if err := m.Unmarshal(f.Body); err != nil || f.Type != wire.TypeProduce || len(m.Records) != 1 || string(m.Records[0].Payload) != "hello" {
		t.Fatalf("got %v %+v (%v), want a PRODUCE of the record", f.Type, m, err)
	}
	if p.Pending() != 1 || p.pipe.Unsent() != 0 {
		t.Fatalf("pending %d, unsent %d; want the record in flight", p.Pending(), p.pipe.Unsent())
	}
	// With a batch in flight, a Send leaves its record to the session.
	if err := p.Send(context.Background(), []byte("later")); err != nil {
		t.Fatal(err)
	}
	if p.pipe.Unsent() != 1 {
		t.Fatalf("unsent %d, want 1: a second batch went out beside the one in flight", p.pipe.Unsent())
	}
}
