package broker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/cluster"
)

// The watch says when a peer's heartbeats start, go quiet, stop and resume,
// once each, and writes one summary per period, on a fake clock.
func TestHeartbeatWatchEvents(t *testing.T) {
	var buf bytes.Buffer
	t0 := time.Unix(1000, 0)
	w := newHBWatch(zerolog.New(&buf), time.Second, 2*time.Second, 3*time.Second, t0)
	const peer = cluster.NodeID(7)
	st := &cluster.Status{Role: cluster.RoleLeader, View: cluster.View{Members: []cluster.Member{{ID: 1}, {ID: peer, Addr: "10.0.0.7:8001"}}}}
	name := cluster.Display(peer, "", "10.0.0.7:8001")
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	lines := func() []string {
		var msgs []string
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if i := strings.Index(l, `"message":"`); i >= 0 {
				msgs = append(msgs, strings.TrimSuffix(l[i+len(`"message":"`):], `"}`))
			}
		}
		buf.Reset()
		return msgs
	}
	expect := func(step string, want ...string) {
		t.Helper()
		got := lines()
		if len(got) != len(want) {
			t.Fatalf("%s: lines %q, want %d lines like %q", step, got, len(want), want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Fatalf("%s: line %q, want it to start with %q", step, got[i], want[i])
			}
		}
	}
	for i := 0; i < 3; i++ {
		w.received(peer, name, at(time.Duration(i)*time.Second))
		w.tick(at(time.Duration(i)*time.Second), st)
	}
	expect("flowing", "HEARTBEAT from "+name+" started")
	w.tick(at(4500*time.Millisecond), st)
	w.tick(at(4600*time.Millisecond), st)
	expect("quiet", "HEARTBEAT from "+name+" suspected: none for 2.5s")
	w.tick(at(5500*time.Millisecond), st)
	expect("silent", "HEARTBEAT from "+name+" stopped: none for 3.5s")
	w.received(peer, name, at(5800*time.Millisecond))
	expect("back", "HEARTBEAT from "+name+" resumed after 3.8s")
	w.tick(at(6*time.Second), st)
	expect("summary", "HEARTBEAT summary: 0 sent, 4 received in the last 6s")
	st.Role = cluster.RoleFollower // someone else leads: followers stop sending to us
	w.tick(at(6100*time.Millisecond), st)
	expect("leader changed", "HEARTBEAT from "+name+" stopped: the leader changed")
}
