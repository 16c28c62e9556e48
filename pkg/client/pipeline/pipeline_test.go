package pipeline

import (
	"fmt"
	"math/rand/v2"
	"slices"
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

// A seeded random run of adds, batches, acknowledgements and lost
// connections against a model of what the pipeline must do, with blocks
// small enough that batches end at block ends often: every batch is the
// oldest unsent records in Seq order, a lost connection resends from the
// oldest unacknowledged, and a batch handed out never changes afterwards
// (batches alias the queue).
func TestModelWithSmallBlocks(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		block := []int{1, 2, 3, 5, 100, 300}[rng.IntN(6)] // the larger ones ramp up from firstBlockRecords
		maxPending, maxInFlight := 1+rng.IntN(20), 1+rng.IntN(4)
		p := NewBlocks(maxPending, maxInFlight, block)
		var acked, sentUpTo uint64 // model: highest acked Seq, highest Seq sent on this connection
		var inflight []uint64      // model: first Seq of each batch in flight
		type handed struct {
			b    Batch
			want []record.Record
		}
		var all []handed
		var id uint64
		for step := range 2000 {
			switch op := rng.IntN(10); {
			case op < 4 && !p.Full():
				seq := p.NextSeq()
				if got := p.Add(record.Record{Payload: fmt.Appendf(nil, "r%d", seq)}); got != seq {
					t.Fatalf("seed %d step %d: Add gave %d, want %d", seed, step, got, seq)
				}
			case op < 7 && p.CanSend():
				id++
				b, ok := p.Next(id, 0, 1+rng.IntN(4), 1<<20)
				if !ok {
					t.Fatalf("seed %d step %d: CanSend but no batch", seed, step)
				}
				if b.FirstSeq() != sentUpTo+1 {
					t.Fatalf("seed %d step %d: batch from %d, want %d", seed, step, b.FirstSeq(), sentUpTo+1)
				}
				for i, r := range b.Records {
					if r.Seq != b.FirstSeq()+uint64(i) || string(r.Payload) != fmt.Sprintf("r%d", r.Seq) {
						t.Fatalf("seed %d step %d: record %d of the batch is seq %d %q", seed, step, i, r.Seq, r.Payload)
					}
				}
				sentUpTo += uint64(len(b.Records))
				inflight = append(inflight, b.FirstSeq())
				all = append(all, handed{b, slices.Clone(b.Records)})
			case op < 9 && len(inflight) > 0:
				old, _ := p.Oldest()
				b, err := p.Ack(old.ID, old.FirstSeq(), len(old.Records))
				if err != nil || b.FirstSeq() != acked+1 || b.FirstSeq() != inflight[0] {
					t.Fatalf("seed %d step %d: ack of %d: %v (acked %d)", seed, step, old.FirstSeq(), err, acked)
				}
				acked += uint64(len(b.Records))
				inflight = inflight[1:]
			case op == 9:
				p.Reset()
				inflight, sentUpTo = nil, acked
			}
			if p.Acked() != acked || p.Pending() != int(p.NextSeq()-1-acked) || p.Unsent() != int(p.NextSeq()-1-sentUpTo) || p.InFlight() != len(inflight) {
				t.Fatalf("seed %d step %d: acked %d pending %d unsent %d inflight %d; model acked %d sent %d inflight %d next %d",
					seed, step, p.Acked(), p.Pending(), p.Unsent(), p.InFlight(), acked, sentUpTo, len(inflight), p.NextSeq())
			}
		}
		for _, h := range all {
			if !slices.EqualFunc(h.b.Records, h.want, func(a, b record.Record) bool {
				return a.Seq == b.Seq && string(a.Payload) == string(b.Payload)
			}) {
				t.Fatalf("seed %d: batch %d changed after it was handed out", seed, h.b.ID)
			}
		}
	}
}

// BenchmarkQueue is the producer's steady state: records added one at a
// time while batches of 1000 go out and are acknowledged, with up to 100k
// records waiting (the client's defaults).
func BenchmarkQueue(b *testing.B) {
	p := New(100000, 32)
	payload := []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123")
	var id uint64
	b.ReportAllocs()
	for b.Loop() {
		if p.Full() {
			for range 32 {
				old, ok := p.Oldest()
				if !ok {
					break
				}
				if _, err := p.Ack(old.ID, old.FirstSeq(), len(old.Records)); err != nil {
					b.Fatal(err)
				}
			}
		}
		p.Add(record.Record{Payload: payload})
		for p.Unsent() >= 1000 && p.CanSend() {
			id++
			p.Next(id, 0, 1000, 1<<20)
		}
	}
}

// A producer with few records waiting holds a small queue (the group
// coordinator's and logstreamctl's producers send a handful), and a busy
// one's blocks grow to the block size, not beyond.
func TestBlocksGrowFromSmall(t *testing.T) {
	p := NewBlocks(1<<20, 4, 4000)
	add(p, 1)
	if c := cap(p.blocks[0]); c != firstBlockRecords {
		t.Fatalf("first block holds %d records, want %d", c, firstBlockRecords)
	}
	add(p, 20000)
	var caps []int
	for _, b := range p.blocks {
		caps = append(caps, cap(b))
	}
	want := []int{64, 128, 256, 512, 1024, 2048, 4000, 4000, 4000, 4000} // 20001 records
	if !slices.Equal(caps, want) {
		t.Fatalf("block sizes %v, want %v", caps, want)
	}
}
