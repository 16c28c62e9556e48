package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/wire"
)

type recordedRecovery struct {
	d         time.Duration
	newLeader bool
}

type fakeObserver struct {
	recoveries []recordedRecovery
	detections []string
}

func (o *fakeObserver) Detected(role, verdict string, silent time.Duration) {
	o.detections = append(o.detections, fmt.Sprintf("%s %s %v", role, verdict, silent))
}

func (o *fakeObserver) ProduceAcked(string, int, int, time.Duration, wire.ErrCode) {}
func (o *fakeObserver) Delivered(string, int, int)                                 {}
func (o *fakeObserver) Recovered(d time.Duration, newLeader bool) {
	o.recoveries = append(o.recoveries, recordedRecovery{d, newLeader})
}

func status(view uint64, leader cluster.NodeID, role cluster.Role, frozen bool, members ...cluster.MemberStatus) *cluster.Status {
	return &cluster.Status{ID: 1, Role: role, Frozen: frozen, Leader: leader,
		View: cluster.View{Number: view, Leader: leader}, Members: members}
}

func member(id cluster.NodeID, l cluster.Liveness) cluster.MemberStatus {
	return cluster.MemberStatus{Member: cluster.Member{ID: id, Addr: "a"}, Liveness: l}
}

// TestClusterWatch drives the watcher through a start, a leader failure and
// an election, and a view change that keeps the leader.
func TestClusterWatch(t *testing.T) {
	obs := &fakeObserver{}
	w := clusterWatch{obs: obs}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	w.observe(status(0, 0, cluster.RoleJoining, true), at(0))
	w.observe(status(1, 3, cluster.RoleFollower, true, member(1, cluster.Alive), member(3, cluster.Alive)), at(100))
	w.observe(status(1, 3, cluster.RoleFollower, false, member(1, cluster.Alive), member(3, cluster.Alive)), at(120))
	if len(obs.recoveries) != 0 {
		t.Fatalf("joining at start reported as a recovery: %v", obs.recoveries)
	}
	// The leader goes silent, then fails; this broker elects itself.
	w.observe(status(1, 3, cluster.RoleFollower, false, member(1, cluster.Alive), member(3, cluster.Suspected)), at(1000))
	w.observe(status(1, 3, cluster.RoleCandidate, true, member(1, cluster.Alive), member(3, cluster.Failed)), at(2000))
	w.observe(status(2, 1, cluster.RoleLeader, true, member(1, cluster.Alive)), at(2300))
	w.observe(status(2, 1, cluster.RoleLeader, false, member(1, cluster.Alive)), at(2340))
	// A member joins: a new view, same leader.
	w.observe(status(3, 1, cluster.RoleLeader, true, member(1, cluster.Alive), member(4, cluster.Alive)), at(5000))
	w.observe(status(3, 1, cluster.RoleLeader, false, member(1, cluster.Alive), member(4, cluster.Alive)), at(5060))

	views, leaders := w.counts()
	if views != 3 || leaders != 1 {
		t.Fatalf("view changes %d, leader changes %d; want 3 and 1", views, leaders)
	}
	want := []recordedRecovery{{340 * time.Millisecond, true}, {60 * time.Millisecond, false}}
	if len(obs.recoveries) != 2 || obs.recoveries[0] != want[0] || obs.recoveries[1] != want[1] {
		t.Fatalf("recoveries %v, want %v", obs.recoveries, want)
	}
	var text []string
	for _, e := range w.recent() {
		text = append(text, e.Kind+": "+e.Text)
	}
	all := strings.Join(text, "\n")
	for _, s := range []string{"VIEW_INSTALL view 2", "new leader 1 (was 3)", "suspected, was alive", "failed, was suspected",
		"this broker is now leader", "cluster frozen", "view 2 active after 340ms"} {
		if !strings.Contains(all, s) {
			t.Errorf("events lack %q:\n%s", s, all)
		}
	}
}

func TestClusterWatchKeepsRecentEvents(t *testing.T) {
	w := clusterWatch{}
	t0 := time.Unix(1000, 0)
	w.observe(status(1, 1, cluster.RoleLeader, false), t0)
	for i := 2; i < 2+3*maxEvents; i++ {
		w.observe(status(uint64(i), 1, cluster.RoleLeader, false), t0.Add(time.Duration(i)*time.Second))
	}
	ev := w.recent()
	if len(ev) != maxEvents {
		t.Fatalf("%d events kept, want %d", len(ev), maxEvents)
	}
	for i := 1; i < len(ev); i++ {
		if !ev[i].Time.After(ev[i-1].Time) {
			t.Fatalf("events out of order at %d: %v then %v", i, ev[i-1].Time, ev[i].Time)
		}
	}
	if last := ev[len(ev)-1]; last.View != uint64(1+3*maxEvents) {
		t.Fatalf("newest event is of view %d, want %d", last.View, 1+3*maxEvents)
	}
}

// countingObserver sums what a real broker reports.
type countingObserver struct {
	mu                     sync.Mutex
	acks, in, bytesIn, out int
	bytesOut               int
	maxLatency             time.Duration
}

func (o *countingObserver) ProduceAcked(_ string, records, bytes int, latency time.Duration, code wire.ErrCode) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if code == wire.ErrNone {
		o.acks++
		o.in += records
		o.bytesIn += bytes
		o.maxLatency = max(o.maxLatency, latency)
	}
}

func (o *countingObserver) Delivered(_ string, records, bytes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.out += records
	o.bytesOut += bytes
}

func (o *countingObserver) Recovered(time.Duration, bool)          {}
func (o *countingObserver) Detected(string, string, time.Duration) {}

// TestSnapshotOfARunningBroker: a real broker's snapshot, health check and
// observer agree with what was produced and consumed.
func TestSnapshotOfARunningBroker(t *testing.T) {
	obs := &countingObserver{}
	b := startBroker(t, t.TempDir(), func(c *Config) { c.Observer = obs })
	p, ctx := startProducer(t, b.addr(), "logs")
	produce(t, ctx, p, 1, 100)
	flush(t, ctx, p)
	want := 0
	for i := 1; i <= 100; i++ {
		want += len(fmt.Sprintf("m-%d", i))
	}
	col := runConsumer(t, b.addr(), "logs", client.ConsumerOptions{})
	col.waitFor(t, "100 records", func() bool { return len(col.recs) >= 100 })

	obs.mu.Lock()
	if obs.in != 100 || obs.bytesIn != want || obs.acks == 0 || obs.maxLatency <= 0 {
		t.Errorf("observer saw %d records, %d bytes in %d acks (max latency %v); want 100 records, %d bytes", obs.in, obs.bytesIn, obs.acks, obs.maxLatency, want)
	}
	obs.mu.Unlock()
	// Delivery is counted after the send: wait for it, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		obs.mu.Lock()
		out, bytesOut := obs.out, obs.bytesOut
		obs.mu.Unlock()
		if out == 100 && bytesOut == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer saw %d records, %d bytes out; want 100, %d", out, bytesOut, want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The status is published at every 20 ms tick: wait for it to show the
	// last record, bounded.
	s := b.Snapshot()
	for i := 0; i < 500 && (len(s.Meta.Topics) == 0 || s.Meta.Topics[0].Committed < 100); i++ {
		time.Sleep(10 * time.Millisecond)
		s = b.Snapshot()
	}
	if ok, why := s.Ready(); !ok {
		t.Fatalf("a lone serving broker is not ready: %s", why)
	}
	if s.Role != "leader" || !s.Member || s.Frozen || s.Meta.View == 0 || len(s.Topics) != 1 || !s.Topics[0].Owned {
		t.Fatalf("snapshot = %+v", s)
	}
	if len(s.Meta.Topics) != 1 || s.Meta.Topics[0].NextOffset != 100 || s.Meta.Counters["records_produced"] != 100 {
		t.Fatalf("snapshot metadata = %+v", s.Meta)
	}
	if s.ViewChanges == 0 {
		t.Fatalf("no view change seen, want the bootstrap view")
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.CheckHealth(hctx); err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	b.stop()
	hctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := b.CheckHealth(hctx2); err == nil {
		t.Fatal("CheckHealth of a stopped broker passed")
	}
}

// Each failure verdict the node keeps is reported once — as an event and to
// the observer (the detection metric) — however often the status repeats it.
func TestClusterWatchReportsDetectionsOnce(t *testing.T) {
	obs := &fakeObserver{}
	w := clusterWatch{obs: obs}
	t0 := time.Unix(1000, 0)
	d1 := cluster.Detection{Peer: cluster.Member{ID: 3, Addr: "10.0.0.3:8001"}, Role: "leader", Verdict: "failed",
		Silent: 2100 * time.Millisecond, At: t0.Add(time.Second)}
	d2 := cluster.Detection{Peer: cluster.Member{ID: 4, Addr: "10.0.0.4:8001"}, Role: "member", Verdict: "timed out",
		Silent: 8 * time.Second, At: t0.Add(9 * time.Second)}
	s := status(1, 3, cluster.RoleFollower, false, member(1, cluster.Alive))
	w.observe(s, t0)
	with := func(ds ...cluster.Detection) *cluster.Status {
		c := *s
		c.Detections = ds
		return &c
	}
	w.observe(with(d1), t0.Add(time.Second))
	w.observe(with(d1), t0.Add(2*time.Second))
	w.observe(with(d1, d2), t0.Add(9*time.Second))
	want := []string{"leader failed 2.1s", "member timed out 8s"}
	if fmt.Sprint(obs.detections) != fmt.Sprint(want) {
		t.Fatalf("detections reported %v, want %v", obs.detections, want)
	}
	n := 0
	for _, e := range w.recent() {
		if e.Kind == "detect" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d detection events, want 2", n)
	}
}
