package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

func sampleMeta(node string, view uint64) *statusreport.Cluster {
	return &statusreport.Cluster{
		NodeID: node, Addr: "127.0.0.1:8001", LeaderID: "node1", LeaderAddr: "127.0.0.1:8001", View: view,
		Members:   []statusreport.Member{{ID: "node1", Addr: "127.0.0.1:8001", State: "alive"}, {ID: "node2", Addr: "127.0.0.1:8002", State: "suspect"}},
		Topics:    []statusreport.Topic{{Name: "logs", Owner: "node2", OwnerAddr: "127.0.0.1:8002", StartOffset: 3, NextOffset: 42, Committed: 40}},
		Consumers: []statusreport.Consumer{{ID: "cons1", Topic: "logs", Offset: 30, Lag: 10}},
		Counters:  map[string]uint64{"frames_dropped": 7},
	}
}

func TestStatusRendersClusterAndUnreachable(t *testing.T) {
	r := newRig(t)
	r.env.querier = fakeQuerier{meta: map[string]*statusreport.Cluster{
		"127.0.0.1:8001": sampleMeta("node1", 4),
		"127.0.0.1:8002": sampleMeta("node2", 4),
	}}
	if code := r.run("status", "--broker", "127.0.0.1:8002", "--broker", "127.0.0.1:8001", "--broker", "127.0.0.1:8009"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	out := r.out.String()
	for _, w := range []string{"LOCAL PROCESSES", "BROKERS", "127.0.0.1:8009", "no (dial tcp", "CLUSTER (as reported by 127.0.0.1:8001)",
		"Leader: node1", "View: 4", "MEMBERS", "suspect", "TOPICS", "node2", "42", "CONSUMERS", "cons1", "COUNTERS", "frames_dropped"} {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	r.out.Reset()
	if code := r.run("status", "--json", "--broker", "127.0.0.1:8001", "--broker", "127.0.0.1:8009"); code != 0 {
		t.Fatal(r.err.String())
	}
	var rep statusreport.Report
	if err := json.Unmarshal([]byte(r.out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Brokers) != 2 || !rep.Brokers[0].Reachable || rep.Brokers[1].Reachable || rep.Cluster == nil || rep.Cluster.Consumers[0].Lag != 10 {
		t.Fatalf("json report %+v", rep)
	}
	// No brokers known: says how to ask one, still exit 0.
	r.out.Reset()
	if code := r.run("status"); code != 0 || !strings.Contains(r.out.String(), "--broker") {
		t.Fatalf("empty status: %q", r.out.String())
	}
}

// Brokers started by this logstreamctl are shown by their names (the user's
// node1, node2), not only by their numeric node ids.
func TestStatusNamesTheBrokersItStarted(t *testing.T) {
	m := sampleMeta("node1", 4)
	named := statusreport.Named(m, map[string]string{"127.0.0.1:8001": "alpha", "127.0.0.1:8002": "beta"})
	if named.LeaderName != "alpha" || named.Members[1].Name != "beta" || named.Topics[0].OwnerName != "beta" {
		t.Fatalf("names not filled in: %+v", named)
	}
	if m.Members[1].Name != "" || m.Topics[0].OwnerName != "" {
		t.Fatal("statusreport.Named changed the broker's answer in place")
	}
	var out strings.Builder
	if err := renderCluster(&out, named, "127.0.0.1:8001"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Leader: alpha (node1) at 127.0.0.1:8001", "beta   node2", "logs  beta (node2)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("cluster status lacks %q:\n%s", w, out.String())
		}
	}
}

func TestStatusWatchStopsOnCancel(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, r.env, []string{"logstreamctl", "status", "--watch", "--interval", "500ms"})
	}()
	r.out.waitFor(t, "LOCAL PROCESSES", 10*time.Second)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestElectionByAddress(t *testing.T) {
	r := newRig(t)
	ch := make(chan string, 1)
	r.env.querier = fakeQuerier{elections: ch}
	if code := r.run("election", "--address", "127.0.0.1:8001"); code != 0 {
		t.Fatal(r.err.String())
	}
	if got := <-ch; got != "127.0.0.1:8001" {
		t.Fatalf("asked %s", got)
	}
}

// fakeBroker answers one request per connection on 127.0.0.1, sending an
// unsolicited heartbeat first to prove the client skips unrelated frames.
func fakeBroker(t *testing.T, reply func(req wire.Frame) wire.Frame) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				req, err := wire.NewReader(c, wire.DefaultMaxFrame).Next()
				if err != nil {
					return
				}
				hb := wire.Heartbeat{NodeID: "node1"}
				out := wire.AppendFrame(nil, wire.Frame{Type: wire.TypeHeartbeat, Body: hb.AppendTo(nil)})
				out = wire.AppendFrame(out, reply(req))
				_, _ = c.Write(out)
			}(c)
		}
	}()
	return l.Addr().String()
}

func TestWireQuerier(t *testing.T) {
	want := wire.MetadataResponse{NodeID: "node1", Addr: "127.0.0.1:8001", LeaderID: "node1", LeaderAddr: "127.0.0.1:8001", View: 9,
		Brokers:   []wire.BrokerInfo{{ID: "node1", Addr: "127.0.0.1:8001", State: "alive"}},
		Topics:    []wire.TopicInfo{{Name: "logs", Owner: "node1", NextOffset: 5, Committed: 4}},
		Consumers: []wire.ConsumerInfo{{ConsumerID: "c", Topic: "logs", Offset: 2, Lag: 2}},
		Counters:  map[string]uint64{"x": 1}}
	addr := fakeBroker(t, func(req wire.Frame) wire.Frame {
		switch req.Type {
		case wire.TypeMetadata:
			return wire.Frame{Type: wire.TypeMetadataResponse, Corr: req.Corr, Body: want.AppendTo(nil)}
		case wire.TypeElectionTrigger:
			return wire.Frame{Type: wire.TypeError, Corr: req.Corr, Body: wire.Error{Code: wire.ErrNone}.AppendTo(nil)}
		}
		return wire.Frame{Type: wire.TypeError, Corr: req.Corr, Body: wire.Error{Code: wire.ErrBadRequest, Message: "what"}.AppendTo(nil)}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := wireQuerier{}
	m, err := q.Metadata(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if m.View != 9 || m.Topics[0].NextOffset != 5 || m.Consumers[0].ID != "c" || m.Members[0].State != "alive" || m.Counters["x"] != 1 {
		t.Fatalf("metadata %+v", m)
	}
	if err := q.TriggerElection(ctx, addr); err != nil {
		t.Fatal(err)
	}

	refusing := fakeBroker(t, func(req wire.Frame) wire.Frame {
		return wire.Frame{Type: wire.TypeError, Corr: req.Corr, Body: wire.Error{Code: wire.ErrNotLeader, Message: "ask node1"}.AppendTo(nil)}
	})
	if err := q.TriggerElection(ctx, refusing); !errors.Is(err, wire.ErrNotLeader) {
		t.Fatalf("want NOT_LEADER, got %v", err)
	}

	// A broker that accepts and never answers costs only the timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1024)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}
	}()
	sctx, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer scancel()
	if _, err := q.Metadata(sctx, l.Addr().String()); err == nil {
		t.Fatal("silent broker answered")
	}
}

// With no broker managed here and none given, status finds the cluster by
// broadcast as clients do, asks every member, and shows each by the name it
// reports (brokers started any way, not only by this logstreamctl).
func TestStatusFindsTheClusterByBroadcast(t *testing.T) {
	r := newRig(t)
	m1, m2 := sampleMeta("node1", 4), sampleMeta("node2", 4)
	m1.Name, m2.Name, m2.Addr = "alpha", "beta", "127.0.0.1:8002"
	r.env.querier = fakeQuerier{meta: map[string]*statusreport.Cluster{"127.0.0.1:8001": m1, "127.0.0.1:8002": m2}}
	var port uint16
	r.env.discover = func(_ context.Context, p uint16, _ *wire.Key) (string, error) {
		port = p
		return "127.0.0.1:8001", nil
	}
	if code := r.run("status"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	out := r.out.String()
	if port != 8888 {
		t.Errorf("looked on broadcast port %d, want the manual's 8888", port)
	}
	for _, w := range []string{"found by broadcast", "127.0.0.1:8001  alpha", "127.0.0.1:8002  beta", "Leader: alpha (node1) at 127.0.0.1:8001", "logs  beta (node2)"} {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "no running brokers known here") {
		t.Errorf("status gave up:\n%s", out)
	}
}
