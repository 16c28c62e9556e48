package broker

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

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
// ack (nil: none).
type countingHandler struct {
	n, want uint64
	ack     func([]record.Record)
}

func (h *countingHandler) Start(next, committed uint64) error { return nil }
func (h *countingHandler) Records(recs []record.Record) error {
	h.n += uint64(len(recs))
	if h.ack != nil {
		h.ack(recs)
	}
	if h.want > 0 && h.n >= h.want {
		return client.ErrStop
	}
	return nil
}
func (h *countingHandler) Stats(*wire.Stats) {}

var benchGroupRecords = flag.Int("groups.records", 200000, "records BenchmarkGroupedRead reads")

// BenchmarkGroupedRead compares reading a topic without a group, as the
// only member of a group (each batch acknowledged, the group's position
// written to __offsets by a GroupCommitter, as the CLI consumer does), and
// as three members of one group (the records split among them: split% is
// the largest member's share above an even third, in percent), in
// records/s. One broker on 127.0.0.1: run it inside `unshare -n` (see
// README "Benchmarks").
func BenchmarkGroupedRead(b *testing.B) {
	n := *benchGroupRecords
	tb := startBroker(b, b.TempDir(), func(c *Config) { c.Logger = zerolog.Nop() })
	o := clientOpts(b, tb.addr(), "bench")
	o.Logger = zerolog.Nop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
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
	b.Run("ungrouped", func(b *testing.B) {
		for range b.N {
			c := client.NewConsumer(o, client.ConsumerOptions{Topic: "logs", From: wire.FromBeginning})
			if err := c.Run(ctx, &countingHandler{want: uint64(n)}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	for _, members := range []int{1, 3} {
		b.Run(fmt.Sprintf("group%d", members), func(b *testing.B) {
			var worst float64
			for i := range b.N {
				counts := readShared(b, ctx, o, fmt.Sprintf("bench-%d-%d", members, i), members, uint64(n))
				for _, c := range counts {
					worst = max(worst, 100*(float64(c)*float64(members)/float64(n)-1))
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			if members > 1 {
				b.ReportMetric(worst, "split%")
			}
		})
	}
}

// readShared reads the topic's n records with members consumers of group
// (each storing the group's position as the CLI does) and returns how many
// each received.
func readShared(b *testing.B, ctx context.Context, o client.Options, group string, members int, n uint64) []uint64 {
	counts := make([]uint64, members)
	var wg sync.WaitGroup
	errs := make(chan error, members)
	for m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mo := o
			mo.ClientID = client.NewClientID(fmt.Sprintf("member%d", m))
			gc := client.NewGroupCommitter(mo, group, "logs", nil)
			h := &countingHandler{}
			c := client.NewConsumer(mo, client.ConsumerOptions{Topic: "logs", From: wire.FromBeginning, Group: group,
				OnPosition: func(p uint64) error {
					gc.Ack(p)
					if p >= n {
						return client.ErrStop
					}
					return nil
				}})
			h.ack = c.Ack
			if err := c.Run(ctx, h); err != nil {
				errs <- err
			}
			if err := gc.Close(5 * time.Second); err != nil {
				errs <- err
			}
			counts[m] = h.n
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total < n {
		b.Fatalf("members received %d records in all, want at least %d", total, n)
	}
	return counts
}
