package broker

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func positionPayload(group string, next uint64) []byte {
	return wire.GroupPosition{Kind: wire.GroupCommit, Group: group, Topic: "logs", Next: next, At: time.Now().UnixNano()}.Marshal()
}

// A client may write only group positions to the offsets topic.
func TestOffsetsTopicRefusesOtherRecords(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	o := clientOpts(t, tb.addr(), "bad")
	o.ReconnectAttempts = 3
	p := client.NewProducer(o, client.ProducerOptions{Topic: cluster.OffsetsTopic})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Send(ctx, []byte("not a position")); err != nil {
		t.Fatal(err)
	}
	err := p.Run(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "not a group position") {
		t.Fatalf("producer ended with %v, want a refusal", err)
	}
	t.Logf("refused: %v", err)
	// Other reserved names stay closed.
	if validTopic(cluster.StateTopic) == nil || validTopic("__x") == nil || validTopic(cluster.OffsetsTopic) != nil {
		t.Fatal("validTopic disagrees with the reserved names")
	}
}

// A position nobody writes again survives retention of the offsets topic:
// its owner writes it again before retention reaches it, and a reader
// finds it after the original record is long gone.
func TestOffsetsCompactionKeepsIdlePositions(t *testing.T) {
	old := offsetsCompactEvery
	offsetsCompactEvery = 50 * time.Millisecond
	t.Cleanup(func() { offsetsCompactEvery = old })
	const keep = 20
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.MaxRecords = keep })
	o := clientOpts(t, tb.addr(), "pos")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := client.NewProducer(o, client.ProducerOptions{Topic: cluster.OffsetsTopic})
	go p.Run(ctx)
	if err := p.Send(ctx, positionPayload("idle", 7)); err != nil {
		t.Fatal(err)
	}
	// A busy group writes 5 retention windows' worth, slowly enough for a
	// compaction pass per half window.
	for i := range 5 * keep {
		if err := p.Send(ctx, positionPayload("busy", uint64(i))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(40 * time.Millisecond) // pacing: one compaction pass per few writes
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l, ok := tb.store.Lookup(cluster.OffsetsTopic)
	if !ok || l.StartOffset() < 2*keep {
		t.Fatalf("retention did not move past the first records (start %d)", l.StartOffset())
	}
	tbl, err := client.LoadGroupPositions(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := tbl.Position("idle", "logs"); !ok || e.Next != 7 {
		t.Fatalf("idle group's position = %+v %v, want 7", e, ok)
	}
	if e, ok := tbl.Position("busy", "logs"); !ok || e.Next != 5*keep-1 {
		t.Fatalf("busy group's position = %+v %v, want %d", e, ok, 5*keep-1)
	}
}

// countingHandler counts records until want, acknowledging each batch to
// ack (nil: ungrouped).
type countingHandler struct {
	n, want uint64
	ack     func(uint64)
}

func (h *countingHandler) Start(next, committed uint64) error { return nil }
func (h *countingHandler) Records(recs []record.Record) error {
	h.n += uint64(len(recs))
	if h.ack != nil {
		h.ack(recs[len(recs)-1].Offset + 1)
	}
	if h.n >= h.want {
		return client.ErrStop
	}
	return nil
}
func (h *countingHandler) Stats(*wire.Stats) {}

// BenchmarkGroupedRead compares reading a topic with and without a group
// (positions acknowledged after every batch, written to __offsets by a
// GroupCommitter): records/s of each, one broker on 127.0.0.1.
func BenchmarkGroupedRead(b *testing.B) {
	const n = 200000
	tb := startBroker(b, b.TempDir(), nil)
	o := clientOpts(b, tb.addr(), "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := client.NewProducer(o, client.ProducerOptions{Topic: "logs"})
	go p.Run(ctx)
	payload := bytes.Repeat([]byte("x"), 100)
	for range n {
		if err := p.Send(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, grouped := range []bool{false, true} {
		name := "ungrouped"
		if grouped {
			name = "grouped"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				h := &countingHandler{want: n}
				var gc *client.GroupCommitter
				if grouped {
					gc = client.NewGroupCommitter(o, "bench", "logs", nil)
					h.ack = gc.Ack
				}
				c := client.NewConsumer(o, client.ConsumerOptions{Topic: "logs", From: wire.FromBeginning})
				if err := c.Run(ctx, h); err != nil {
					b.Fatal(err)
				}
				if gc != nil {
					if err := gc.Close(5 * time.Second); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
