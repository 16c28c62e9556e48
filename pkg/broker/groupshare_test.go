package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// member is a shared-group consumer in a test: it keeps what it receives
// and acknowledges it unless told not to (a stuck member).
type gmember struct {
	name  string
	cons  *client.Consumer
	col   *collector
	noAck bool

	mu  sync.Mutex
	pos uint64
}

func (m *gmember) Start(next, committed uint64) error { return nil }
func (m *gmember) Records(recs []record.Record) error {
	m.col.Records(recs)
	if !m.noAck {
		m.cons.Ack(recs)
	}
	return nil
}
func (m *gmember) Stats(s *wire.Stats) { m.col.Stats(s) }

func (m *gmember) position() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos
}

// startMember runs a member of group g on topic "logs" until the returned
// stop is called (a clean leave) or the test ends.
func startMember(t *testing.T, addr, name, group string, noAck bool, tweak func(*client.ConsumerOptions)) (*gmember, func()) {
	m := &gmember{name: name, col: newCollector(), noAck: noAck}
	co := client.ConsumerOptions{Topic: "logs", From: wire.FromBeginning, MaxBatch: 100, Group: group,
		OnPosition: func(p uint64) error {
			m.mu.Lock()
			m.pos = p
			m.mu.Unlock()
			m.col.poke()
			return nil
		}}
	if tweak != nil {
		tweak(&co)
	}
	m.cons = client.NewConsumer(clientOpts(t, addr, name), co)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.cons.Run(ctx, m)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return m, stop
}

func produceN(t *testing.T, addr string, from, to int) {
	p, ctx := startProducer(t, addr, "logs")
	produce(t, ctx, p, from, to)
	flush(t, ctx, p)
}

// offsetsOf maps each offset the members received to how many times.
func offsetsOf(ms ...*gmember) map[uint64]int {
	seen := map[uint64]int{}
	for _, m := range ms {
		for _, r := range m.col.records() {
			seen[r.Offset]++
		}
	}
	return seen
}

func waitAll(t *testing.T, n int, ms ...*gmember) {
	t.Helper()
	ms[0].col.waitFor(t, fmt.Sprintf("all %d records among the members", n), func() bool { return len(offsetsOf(ms...)) >= n })
	deadline := time.Now().Add(30 * time.Second)
	for len(offsetsOf(ms...)) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSharedGroupSplitsRecords(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	const n = 3000
	a, _ := startMember(t, tb.addr(), "a", "g", false, nil)
	b, _ := startMember(t, tb.addr(), "b", "g", false, nil)
	c, _ := startMember(t, tb.addr(), "c", "g", false, nil)
	waitGroupMembers(t, tb.Broker, "g", 3)
	produceN(t, tb.addr(), 1, n)
	waitPosition(t, a, n)
	seen := offsetsOf(a, b, c)
	for o := uint64(0); o < n; o++ {
		if seen[o] != 1 {
			t.Fatalf("offset %d delivered %d times, want once", o, seen[o])
		}
	}
	for _, m := range []*gmember{a, b, c} {
		recs := m.col.records()
		if len(recs) == 0 {
			t.Fatalf("member %s got nothing", m.name)
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].Offset <= recs[i-1].Offset {
				t.Fatalf("member %s: offset %d after %d", m.name, recs[i].Offset, recs[i-1].Offset)
			}
		}
		t.Logf("member %s: %d records", m.name, len(recs))
	}
	// Three groups are independent: another group reads everything.
	other, _ := startMember(t, tb.addr(), "x", "other", false, nil)
	waitPosition(t, other, n)
	if got := len(other.col.records()); got != n {
		t.Fatalf("a second group got %d records, want %d", got, n)
	}
}

func TestSharedGroupRedeliversAfterLeaseTimeout(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.GroupLeaseTimeout = 300 * time.Millisecond })
	const n = 2000
	stuck, stopStuck := startMember(t, tb.addr(), "stuck", "g", true, nil)
	waitGroupMembers(t, tb.Broker, "g", 1)
	produceN(t, tb.addr(), 1, n)
	stuck.col.waitFor(t, "the stuck member to hold records", func() bool { return len(stuck.col.recs) > 0 })
	ok, _ := startMember(t, tb.addr(), "ok", "g", false, nil)
	// The stuck member acknowledges nothing: every lease it takes expires
	// and goes to the working one, which ends with the whole topic.
	waitPosition(t, ok, n)
	got := map[uint64]bool{}
	for _, r := range ok.col.records() {
		got[r.Offset] = true
	}
	for o := uint64(0); o < n; o++ {
		if !got[o] {
			t.Fatalf("offset %d never reached the working member", o)
		}
	}
	stopStuck()
	if len(stuck.col.records()) == 0 {
		t.Fatal("the stuck member took nothing: the test proved nothing")
	}
}

func TestSharedGroupLeaveHandsOverAtOnce(t *testing.T) {
	// The lease timeout is far longer than the test may wait: a member
	// that leaves must give its records back at once.
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.GroupLeaseTimeout = time.Hour })
	const n = 1000
	quitter, stopQuitter := startMember(t, tb.addr(), "quitter", "g", true, nil)
	waitGroupMembers(t, tb.Broker, "g", 1)
	produceN(t, tb.addr(), 1, n)
	quitter.col.waitFor(t, "the quitter to hold records", func() bool { return len(quitter.col.recs) > 0 })
	stay, _ := startMember(t, tb.addr(), "stay", "g", false, nil)
	waitGroupMembers(t, tb.Broker, "g", 2)
	stopQuitter()
	waitPosition(t, stay, n)
	if got := len(offsetsOf(stay)); got != n {
		t.Fatalf("the remaining member got %d distinct records, want %d", got, n)
	}
}

func TestSharedGroupAnalyticsPerMember(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	const n = 1000
	analytics := func(co *client.ConsumerOptions) { co.Analytics, co.IntervalMs = true, 50 }
	a, _ := startMember(t, tb.addr(), "a", "g", false, analytics)
	b, _ := startMember(t, tb.addr(), "b", "g", false, analytics)
	waitGroupMembers(t, tb.Broker, "g", 2)
	produceN(t, tb.addr(), 1, n)
	waitPosition(t, a, n)
	for _, m := range []*gmember{a, b} {
		want := uint64(len(m.col.records()))
		m.col.waitFor(t, "statistics of "+m.name+"'s records", func() bool {
			return len(m.col.stats) > 0 && m.col.stats[len(m.col.stats)-1].Total == want
		})
		if want == 0 || want == n {
			t.Fatalf("member %s received %d of %d records: not a split", m.name, want, n)
		}
	}
}

func waitPosition(t *testing.T, m *gmember, n uint64) {
	t.Helper()
	m.col.waitFor(t, fmt.Sprintf("group position %d", n), func() bool { return m.position() >= n })
}

func waitGroupMembers(t *testing.T, b *Broker, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, g := range b.shares.snapshot() {
			if g.Group == group && len(g.Members) == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never had %d members: %+v", group, n, b.shares.snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
