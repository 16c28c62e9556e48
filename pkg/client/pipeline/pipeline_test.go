package pipeline

import (
	"testing"

	"github.com/logstream/logstream/pkg/record"
)

func add(p *Pipeline, n int) {
	for range n {
		p.Add(record.Record{Payload: []byte("0123456789")})
	}
}

func seqs(b Batch) (first, last uint64) { return b.Records[0].Seq, b.Records[len(b.Records)-1].Seq }

// A lost connection sends everything unacknowledged again, from the oldest,
// with the same sequence numbers, in batches that need not match the first.
func TestResendAfterReset(t *testing.T) {
	p := New(10, 2)
	add(p, 5)
	b1, _ := p.Next(1, 0, 2, 1<<20)
	b2, _ := p.Next(2, 0, 2, 1<<20)
	if p.CanSend() {
		t.Fatal("a third batch in flight with maxInFlight 2")
	}
	if _, err := p.Ack(1, 1, 2); err != nil {
		t.Fatal(err)
	}
	if f, l := seqs(b1); f != 1 || l != 2 || p.Acked() != 2 || p.Pending() != 3 {
		t.Fatalf("after ack: batch %d-%d acked %d pending %d", f, l, p.Acked(), p.Pending())
	}
	_ = b2
	p.Reset() // batch 2 (3-4) is lost with its connection
	b3, _ := p.Next(3, 0, 10, 1<<20)
	if f, l := seqs(b3); f != 3 || l != 5 {
		t.Fatalf("resent %d-%d, want 3-5", f, l)
	}
	if _, err := p.Ack(2, 3, 2); err == nil {
		t.Fatal("ack of the lost batch accepted")
	}
}

func TestAckOrderAndBounds(t *testing.T) {
	p := New(3, 4)
	add(p, 3)
	if !p.Full() {
		t.Fatal("not full at maxPending")
	}
	if _, err := p.Ack(1, 1, 1); err == nil {
		t.Fatal("ack with nothing in flight accepted")
	}
	p.Next(1, 0, 1, 1<<20)
	p.Next(2, 0, 1, 1<<20)
	if _, err := p.Ack(2, 2, 1); err == nil {
		t.Fatal("second batch acknowledged before the first")
	}
	if _, err := p.Ack(1, 1, 2); err == nil {
		t.Fatal("wrong count accepted")
	}
	// maxBytes cuts a batch after its first record; the first always goes.
	q := New(10, 10)
	add(q, 3)
	if b, _ := q.Next(1, 0, 10, 1); len(b.Records) != 1 {
		t.Fatalf("batch of %d records over maxBytes", len(b.Records))
	}
	if b, _ := q.Next(2, 0, 10, 2*(10+32)); len(b.Records) != 2 {
		t.Fatalf("batch of %d records, want 2", len(b.Records))
	}
}
