package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// ackingBroker answers every PRODUCE with its PRODUCE_ACK, that of a record
// whose payload is "held" only once release closes, and counts the
// connections it accepted.
func ackingBroker(t *testing.T, release <-chan struct{}, conns *atomic.Int32) string {
	t.Helper()
	var seen sync.Map
	return scriptedBroker(t, func(conn *framed.Conn, f wire.Frame) {
		if _, ok := seen.LoadOrStore(conn, true); !ok {
			conns.Add(1)
		}
		if f.Type != wire.TypeProduce {
			return
		}
		ack, first, ok := produceAck(t, f)
		if !ok {
			return
		}
		if string(first) == "held" {
			<-release
		}
		conn.Send(wire.Encode(&ack, f.Corr))
	})
}

func runProducer(t *testing.T, p *Producer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// One record at a time, the caller waiting in Flush reads the
// acknowledgement itself: no hand-off from the session's reader, which
// cost a synchronous send as much as the broker's share of it.
func TestFlushReadsItsOwnAcknowledgement(t *testing.T) {
	var conns atomic.Int32
	p := NewProducer(testOptions(ackingBroker(t, nil, &conns), 3), ProducerOptions{Topic: "t"})
	p.lateAfter = time.Hour // no reader woken by the clock
	runProducer(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 20
	for i := 0; i < n; i++ {
		if err := p.Send(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if p.Acked() != n {
		t.Fatalf("%d acknowledged, want %d", p.Acked(), n)
	}
	// The first may go before the session is up, and so through its reader;
	// the second's Flush may find that reader still finishing with the first.
	if got := p.ownReads.Load(); got < n-2 {
		t.Fatalf("Flush read %d acknowledgements itself, want at least %d of %d", got, n-2, n)
	}
}

// A record sent with nobody to Flush is acknowledged all the same: the
// session's reader takes its acknowledgement a moment later.
func TestSendWithoutFlushIsAcknowledged(t *testing.T) {
	var conns atomic.Int32
	p := NewProducer(testOptions(ackingBroker(t, nil, &conns), 3), ProducerOptions{Topic: "t"})
	runProducer(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 1; i <= 3; i++ {
		if err := p.Send(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		for p.Acked() < uint64(i) {
			select {
			case <-ctx.Done():
				t.Fatalf("record %d never acknowledged (acked %d)", i, p.Acked())
			case <-time.After(time.Millisecond):
			}
		}
	}
}

// A Flush whose context ends while it reads returns at once, and leaves
// the connection and what it waited for to the session: the
// acknowledgement that comes later is taken, on the same connection.
func TestFlushInterruptedKeepsTheSession(t *testing.T) {
	var conns atomic.Int32
	release := make(chan struct{})
	p := NewProducer(testOptions(ackingBroker(t, release, &conns), 3), ProducerOptions{Topic: "t"})
	p.lateAfter = time.Hour
	runProducer(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Send(ctx, []byte("warm")); err != nil { // the session is up after this one
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, []byte("held")); err != nil {
		t.Fatal(err)
	}
	before := p.ownReads.Load()
	fctx, fcancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- p.Flush(fctx) }()
	for p.ownReads.Load() == before { // until Flush waits in its own read
		select {
		case <-ctx.Done():
			t.Fatal("Flush never read the connection itself")
		case <-time.After(time.Millisecond):
		}
	}
	fcancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush returned %v, want context.Canceled", err)
	}
	close(release)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Acked() != 2 || conns.Load() != 1 {
		t.Fatalf("acked %d on %d connections, want 2 on 1", p.Acked(), conns.Load())
	}
}
