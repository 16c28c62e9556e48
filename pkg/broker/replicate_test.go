package broker

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// A broker reads its own multicast back (the group loops it): openDatagram
// drops such a datagram before decoding it, without counting it as bad, and
// still decodes a member's.
func TestOwnDatagramSkipped(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	r := b.cluster
	recs := []record.Record{{Offset: 0, ProducerID: "p", Seq: 1, Payload: []byte("x")}}
	datagram := func(from cluster.NodeID) []byte {
		m := &cluster.Replicate{From: from, View: 1, Topic: "t", Records: recs}
		return wire.AppendFrame(nil, wire.Frame{Type: m.Type(), Body: m.AppendTo(nil)})
	}
	replay := wire.NewReplayWindow(16)
	if m, err := r.openDatagram(datagram(r.id), nil, replay); err != errOwnDatagram || m != nil {
		t.Fatalf("own datagram: %v, %v; want nil, errOwnDatagram", m, err)
	}
	m, err := r.openDatagram(datagram(r.id+1), nil, replay)
	if err != nil {
		t.Fatalf("a member's datagram: %v", err)
	}
	if rep, ok := m.(*cluster.Replicate); !ok || rep.From != r.id+1 || len(rep.Records) != 1 {
		t.Fatalf("a member's datagram decoded as %#v", m)
	}
	if n := b.counters.udpBad.Load(); n != 0 {
		t.Fatalf("udpBad = %d, want 0", n)
	}
}

// REPLICATE goes over the members' TCP links, big or small (a small one
// multicast beside a big one on TCP could overtake it); heartbeats and the
// like go to the group while they fit a datagram.
func TestReplicateNotMulticast(t *testing.T) {
	for _, c := range []struct {
		m    cluster.Message
		size int
		want bool
	}{
		{&cluster.Replicate{}, 100, false},           // a commit announcement or one record
		{&cluster.Replicate{}, 48 << 10, false},      // a batch
		{&cluster.Heartbeat{}, 200, true},            // heartbeats stay on the group
		{&cluster.ViewInstall{}, maxDatagram, false}, // too big for a datagram
	} {
		if got := viaMulticast(c.m, c.size); got != c.want {
			t.Errorf("viaMulticast(%T, %d) = %v, want %v", c.m, c.size, got, c.want)
		}
	}
}

// A link's queue is bounded in bytes as well as frames: a member that does
// not read holds defaults.LinkQueueBytes of frames at most, the rest is
// dropped (the member fetches it later).
func TestLinkQueueBoundedInBytes(t *testing.T) {
	r := &clusterRepl{log: zerolog.Nop()}
	l := newLink(r, 2, "10.0.0.2:8001")
	body := make([]byte, 1<<20)
	fit := int(defaults.LinkQueueBytes / len(body))
	for i := 0; i < fit+3; i++ {
		l.enqueue(wire.Frame{Type: wire.TypeReplicate, Body: body})
	}
	if len(l.q) != fit {
		t.Fatalf("%d frames of 1 MiB queued, want %d", len(l.q), fit)
	}
	<-l.q // what pump does as it takes a frame
	l.queued.Add(-int64(len(body)))
	l.enqueue(wire.Frame{Type: wire.TypeReplicate, Body: body})
	if len(l.q) != fit {
		t.Fatalf("after one frame left: %d queued, want %d", len(l.q), fit)
	}
}

// stepThen calls its callback on the loop once the node's output for the
// message is out (at the end of the drain that follows it).
func TestStepThenCallsBack(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	done := make(chan struct{})
	b.cluster.stepThen(&cluster.ReplicateAck{From: b.cluster.id + 1, View: 1, Topic: "t", End: 1}, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stepThen's callback did not run")
	}
}

// A link that was down sends, once back, only what was queued in the last
// linkStaleAfter: older frames went into an outage the node was told of,
// and delivered late they act on a cluster that has moved on (chaos seed 5:
// a STATE_EXCHANGE abandoned 2.5 s earlier stopped an election).
func TestLinkDropsFramesQueuedLongWhileDown(t *testing.T) {
	r := &clusterRepl{log: zerolog.Nop()}
	l := newLink(r, 2, "10.0.0.2:8001")
	now := time.Now()
	for i, age := range []time.Duration{3 * time.Second, 2 * time.Second, 100 * time.Millisecond, 0} {
		body := make([]byte, 10+i)
		l.q <- queuedFrame{f: wire.Frame{Type: wire.TypeStateExchange, Body: body}, at: now.Add(-age)}
		l.queued.Add(int64(len(body)))
	}
	l.dropStale(now)
	if l.next == nil || len(l.next.f.Body) != 12 {
		t.Fatalf("next frame to send %+v, want the first one younger than %v (body of 12 bytes)", l.next, linkStaleAfter)
	}
	if len(l.q) != 1 {
		t.Fatalf("%d frames left queued behind it, want 1", len(l.q))
	}
	if got := l.queued.Load(); got != 12+13 {
		t.Fatalf("queued bytes %d, want %d (the two frames kept)", got, 12+13)
	}
}
