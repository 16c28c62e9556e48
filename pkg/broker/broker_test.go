package broker

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// testBroker runs a broker on 127.0.0.1 with discovery off (in the machine's
// own namespace nothing may broadcast).
type testBroker struct {
	*Broker
	cancel context.CancelFunc
	done   chan error
}

// testConfig is a test broker's configuration: loopback, no broadcast, off
// multicast, no retention, logging to t.
func testConfig(t testing.TB, dir string) Config {
	cfg := DefaultConfig()
	cfg.Name = "test"
	cfg.Listen = netip.MustParseAddrPort("127.0.0.1:0")
	cfg.Advertise = cfg.Listen
	cfg.BroadcastPort = 0
	// Off the manual's multicast group: on the machine's loopback every
	// test binary running at the same time (other packages, other
	// checkouts) would hear every other's heartbeats, and a fresh test
	// broker merges into a foreign cluster that holds records. Brokers of
	// one test replicate over TCP instead.
	cfg.Multicast = netip.AddrPort{}
	cfg.DataDir = dir
	cfg.MaxRecords = 0
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	return cfg
}

func startBroker(t testing.TB, dir string, tweak func(*Config)) *testBroker {
	t.Helper()
	cfg := testConfig(t, dir)
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb := &testBroker{Broker: b, cancel: cancel, done: make(chan error, 1)}
	go func() { tb.done <- b.Run(ctx) }()
	t.Cleanup(tb.stop)
	return tb
}

// Seen before test brokers kept off multicast: TestProduceConsume, run while
// another test binary's broker held topic "logs", read that broker's records.
func TestTestBrokersKeepOffMulticast(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	if b.cfg.Multicast.IsValid() {
		t.Fatalf("test broker joins multicast group %v, shared with every process on this host", b.cfg.Multicast)
	}
}

func (tb *testBroker) stop() {
	tb.cancel()
	<-tb.done
	tb.done <- nil // later stops return at once
}

func (tb *testBroker) addr() string { return tb.cfg.Advertise.String() }

func clientOpts(t testing.TB, addr, name string) client.Options {
	return client.Options{
		ClientID: client.NewClientID(name), Leader: addr,
		HBInterval: 100 * time.Millisecond, HBTimeout: 5 * time.Second,
		ReconnectAttempts: 50, ReconnectDelay: 20 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
}

// collector is a consumer handler that keeps every record it is given.
type collector struct {
	mu     sync.Mutex
	recs   []record.Record
	stats  []wire.Stats
	notify chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) Start(next, committed uint64) error { return nil }
func (c *collector) Records(recs []record.Record) error {
	c.mu.Lock()
	for _, r := range recs {
		r.Payload = append([]byte(nil), r.Payload...)
		c.recs = append(c.recs, r)
	}
	c.mu.Unlock()
	c.poke()
	return nil
}
func (c *collector) Stats(s *wire.Stats) {
	c.mu.Lock()
	c.stats = append(c.stats, *s)
	c.mu.Unlock()
	c.poke()
}
func (c *collector) records() []record.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]record.Record(nil), c.recs...)
}

func (c *collector) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds, failing the test after a generous bound.
func (c *collector) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// runConsumer consumes topic from the beginning until the test ends.
func runConsumer(t *testing.T, addr, topic string, co client.ConsumerOptions) *collector {
	col := newCollector()
	co.Topic = topic
	cons := client.NewConsumer(clientOpts(t, addr, "cons"), co)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cons.Run(ctx, col)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return col
}

// checkExactlyOnce checks that recs are offsets 0..n-1 and payloads "m-1".."m-n".
func checkExactlyOnce(t *testing.T, recs []record.Record, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Offset != uint64(i) || string(r.Payload) != fmt.Sprintf("m-%d", i+1) {
			t.Fatalf("record %d: offset %d payload %q", i, r.Offset, r.Payload)
		}
	}
}

func produce(t *testing.T, ctx context.Context, p *client.Producer, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := p.Send(ctx, []byte(fmt.Sprintf("m-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func startProducer(t *testing.T, addr, topic string) (*client.Producer, context.Context) {
	p := client.NewProducer(clientOpts(t, addr, "prod"), client.ProducerOptions{Topic: topic, MaxBatchRecords: 50})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return p, ctx
}

func flush(t *testing.T, ctx context.Context, p *client.Producer) {
	t.Helper()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("flush: %v (pending %d)", err, p.Pending())
	}
}

func TestProduceConsume(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	p, ctx := startProducer(t, b.addr(), "logs")
	produce(t, ctx, p, 1, 2000)
	flush(t, ctx, p)
	if p.Acked() != 2000 {
		t.Fatalf("acked %d", p.Acked())
	}
	col := runConsumer(t, b.addr(), "logs", client.ConsumerOptions{})
	col.waitFor(t, "2000 records", func() bool { return len(col.recs) >= 2000 })
	col.mu.Lock()
	checkExactlyOnce(t, col.recs, 2000)
	col.mu.Unlock()
}

// Cutting every connection mid-stream makes the producer resend what was not
// acknowledged; the broker drops what it already had and the consumer
// resumes at its next offset: nothing lost, nothing twice.
func TestReconnectsLoseNothing(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	p, ctx := startProducer(t, b.addr(), "logs")
	col := runConsumer(t, b.addr(), "logs", client.ConsumerOptions{})
	const rounds, per = 5, 400
	for r := 0; r < rounds; r++ {
		produce(t, ctx, p, r*per+1, (r+1)*per)
		b.closeClients()
	}
	flush(t, ctx, p)
	col.waitFor(t, "all records", func() bool { return len(col.recs) >= rounds*per })
	col.mu.Lock()
	checkExactlyOnce(t, col.recs, rounds*per)
	col.mu.Unlock()
}

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir, nil)
	p, ctx := startProducer(t, b.addr(), "logs")
	produce(t, ctx, p, 1, 500)
	flush(t, ctx, p)
	b.stop()
	b2 := startBroker(t, dir, nil)
	col := runConsumer(t, b2.addr(), "logs", client.ConsumerOptions{})
	col.waitFor(t, "500 records", func() bool { return len(col.recs) >= 500 })
	col.mu.Lock()
	checkExactlyOnce(t, col.recs, 500)
	col.mu.Unlock()
	// A restarted producer (new id) continues the topic at offset 500.
	p2, ctx2 := startProducer(t, b2.addr(), "logs")
	produce(t, ctx2, p2, 501, 600)
	flush(t, ctx2, p2)
	col.waitFor(t, "600 records", func() bool { return len(col.recs) >= 600 })
	col.mu.Lock()
	checkExactlyOnce(t, col.recs, 600)
	col.mu.Unlock()
}

func TestLargeRecord(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	p, ctx := startProducer(t, b.addr(), "big")
	big := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < 3; i++ {
		if err := p.Send(ctx, big); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, ctx, p)
	col := runConsumer(t, b.addr(), "big", client.ConsumerOptions{})
	col.waitFor(t, "3 big records", func() bool { return len(col.recs) >= 3 })
	for _, r := range col.records() {
		if !bytes.Equal(r.Payload, big) {
			t.Fatalf("record %d: %d bytes", r.Offset, len(r.Payload))
		}
	}
	if err := p.Send(ctx, make([]byte, 5<<20)); err == nil {
		t.Fatal("a record over the frame limit was accepted")
	}
}

func TestAnalyticsStats(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	p, ctx := startProducer(t, b.addr(), "sensors")
	produce(t, ctx, p, 1, 300)
	flush(t, ctx, p)
	col := runConsumer(t, b.addr(), "sensors", client.ConsumerOptions{Analytics: true, WindowSec: 30, IntervalMs: 50})
	col.waitFor(t, "stats covering 300 records", func() bool {
		return len(col.stats) > 0 && col.stats[len(col.stats)-1].Total >= 300
	})
	col.mu.Lock()
	s := col.stats[len(col.stats)-1]
	col.mu.Unlock()
	if s.WindowSec != 30 || s.WindowCount != 300 || len(s.PerProducer) != 1 || s.PerProducer[0].Count != 300 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSubscribeFromOffsetAndLatest(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	p, ctx := startProducer(t, b.addr(), "logs")
	produce(t, ctx, p, 1, 100)
	flush(t, ctx, p)
	mid := runConsumer(t, b.addr(), "logs", client.ConsumerOptions{From: wire.FromOffset, Offset: 90})
	latest := runConsumer(t, b.addr(), "logs", client.ConsumerOptions{From: wire.FromLatest})
	mid.waitFor(t, "offsets 90..99", func() bool { return len(mid.recs) >= 10 })
	// "latest" delivers only what is committed after it subscribed; wait
	// until the broker has the subscription before producing more.
	waitSubscribers(t, b.Broker, 2)
	produce(t, ctx, p, 101, 105)
	flush(t, ctx, p)
	latest.waitFor(t, "5 new records", func() bool { return len(latest.recs) >= 5 })
	if l, m := latest.records(), mid.records(); l[0].Offset != 100 || m[0].Offset != 90 {
		t.Fatalf("latest starts at %d, offset-90 starts at %d", l[0].Offset, m[0].Offset)
	}
}

func waitSubscribers(t *testing.T, b *Broker, n int) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		b.mu.Lock()
		got := len(b.subs)
		b.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, bounded
	}
	t.Fatalf("broker never had %d subscribers", n)
}
