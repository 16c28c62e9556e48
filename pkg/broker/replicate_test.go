package broker

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/internal/loopback"
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
		l.enqueue(&outFrame{f: wire.Frame{Type: wire.TypeReplicate, Body: body}})
	}
	if len(l.q) != fit {
		t.Fatalf("%d frames of 1 MiB queued, want %d", len(l.q), fit)
	}
	<-l.q // what pump does as it takes a frame
	l.queued.Add(-int64(len(body)))
	l.enqueue(&outFrame{f: wire.Frame{Type: wire.TypeReplicate, Body: body}})
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

// loopbackConn is one end of a TCP connection over loopback, framed, and
// the other end to read from.
func loopbackConn(t *testing.T) (*framed.Conn, *framed.Conn) {
	na, nb := loopback.TCPPair(t)
	a, b := framed.NewWith(na, framed.Options{Queue: 4}), framed.NewWith(nb, framed.Options{Queue: 4})
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// A link that is up with nothing waiting hands a frame straight to its
// connection from the loop, with no hand-off to its goroutine; with frames
// waiting, a new one queues behind them, so the order holds.
func TestLinkSendsDirectlyWhenNothingWaits(t *testing.T) {
	r := &clusterRepl{log: zerolog.Nop()}
	l := newLink(r, 2, "10.0.0.2:8001")
	conn, peer := loopbackConn(t)
	l.up.Store(conn) // what pump does while it runs; no pump here
	l.enqueue(&outFrame{f: wire.Frame{Type: wire.TypeReplicateAck, Corr: 1, Body: []byte("ack")}})
	if len(l.q) != 0 {
		t.Fatalf("%d frames queued for the link's goroutine, want the frame sent directly", len(l.q))
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := peer.Recv(); err != nil || f.Corr != 1 {
		t.Fatalf("peer got %+v, %v; want frame 1", f, err)
	}

	l.q <- queuedFrame{f: wire.Frame{Type: wire.TypeReplicate, Corr: 2, Body: []byte("waits")}, at: time.Now()}
	l.behind.Add(1)
	l.enqueue(&outFrame{f: wire.Frame{Type: wire.TypeReplicateAck, Corr: 3, Body: []byte("after")}})
	if len(l.q) != 2 {
		t.Fatalf("%d frames queued, want 2: a frame must not overtake one waiting", len(l.q))
	}
}

// idleBroker is a broker made by New whose loops never run: what a test
// sees happen was done on its own goroutine.
func idleBroker(t *testing.T) *Broker {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.Logger = zerolog.Nop()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.ln.Close()
		b.store.Close()
		b.lock.release()
	})
	return b
}

// asMemberOfThree makes r's published view one of three brokers (r's own
// node is not told: only what reads the status sees a cluster).
func asMemberOfThree(r *clusterRepl) {
	st := *r.status.Load()
	st.View.Members = []cluster.Member{{ID: r.id, Addr: "10.0.0.1:8001"}, {ID: r.id + 1, Addr: "10.0.0.2:8001"}, {ID: r.id + 2, Addr: "10.0.0.3:8001"}}
	r.status.Store(&st)
}

// In a cluster too, work handed to an idle loop (a peer's REPLICATE, its
// acknowledgement, a PRODUCE) runs on the caller's goroutine at once, not
// after a hand-off to the loop's: each hand-off cost the path of a
// one-at-a-time record tens of microseconds per broker.
func TestWorkRunsOnTheCallersGoroutineInACluster(t *testing.T) {
	r := idleBroker(t).cluster
	asMemberOfThree(r)
	ran := false
	if !r.do(context.Background(), func(time.Time) { ran = true }) {
		t.Fatal("do refused the work")
	}
	if !ran {
		t.Fatal("work queued for the loop although it was idle")
	}
	// Behind queued work, work queues too: one goroutine's order holds.
	r.queued.Add(1)
	ran = false
	r.do(context.Background(), func(time.Time) { ran = true })
	if ran {
		t.Fatal("work ran ahead of work queued before it")
	}
}

// A Ready's acknowledgements go to the producers before its messages go to
// the peers: an acknowledgement waits for no write to a peer.
func TestAcksBeforeMessages(t *testing.T) {
	r := idleBroker(t).cluster
	asMemberOfThree(r)
	peer := r.id + 1
	l := newLink(r, peer, "10.0.0.2:8001") // never runs: what is sent stays queued
	r.links[peer] = l
	queuedAtAck := -1
	r.pending[7] = pendingProduce{topic: "t", done: func(wire.ProduceAck) { queuedAtAck = len(l.q) }}
	r.deliver(cluster.Ready{
		Messages: []cluster.Envelope{{To: peer, Msg: &cluster.ReplicateAck{From: r.id, View: 1, Topic: "u", End: 3}}},
		Acks:     []cluster.Ack{{Token: 7, Topic: "t", Count: 1}},
	})
	if queuedAtAck != 0 {
		t.Fatalf("%d messages sent before the acknowledgement, want 0", queuedAtAck)
	}
	if len(l.q) != 1 {
		t.Fatalf("%d messages sent, want 1", len(l.q))
	}
}

// A frame a link must queue keeps its bytes although the loop encodes the
// next message into the same buffer; a link that writes at once costs no
// copy, so sending to members that keep up allocates far less than a body
// per message.
func TestSendReusesItsEncodingBuffer(t *testing.T) {
	r := idleBroker(t).cluster
	asMemberOfThree(r)
	peer := r.id + 1
	down := newLink(r, r.id+2, "10.0.0.3:8001") // never up: frames queue
	r.links[r.id+2] = down
	up := newLink(r, peer, "10.0.0.2:8001")
	r.links[peer] = up
	conn, other := loopbackConn(t)
	up.up.Store(conn)
	read := make(chan struct{})
	go func() { // the member reads everything, allocating nothing per frame
		other.ReuseBodies()
		for {
			if _, err := other.Recv(); err != nil {
				return
			}
			read <- struct{}{}
		}
	}()
	recs := make([]record.Record, 100)
	for i := range recs {
		recs[i] = record.Record{Offset: uint64(i), ProducerID: "p", Seq: uint64(i + 1), Payload: make([]byte, 100)}
	}
	first := &cluster.Replicate{From: r.id, View: 1, Topic: "a", First: 0, Records: recs}
	r.send(cluster.Envelope{Msg: first})
	<-read
	want := first.AppendTo(nil)

	const sends = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < sends; i++ {
		r.send(cluster.Envelope{To: peer, Msg: &cluster.Replicate{From: r.id, View: 1, Topic: "b", First: 100, Records: recs}})
		<-read // one frame in the socket at a time: it always takes the whole frame
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / sends; per > uint64(len(want))/4 {
		t.Errorf("%d bytes allocated per message sent to a member that keeps up; a body is %d", per, len(want))
	}
	qf := <-down.q
	if !bytes.Equal(qf.f.Body, want) {
		t.Fatal("a queued frame's body changed when the next message was encoded")
	}
}

// A link's connection gives up on bytes unacknowledged for FAILURE_TIMEOUT
// (TCP_USER_TIMEOUT), so a link stuck across a cut is redialled instead of
// waiting out TCP's doubling retransmission timer after the network heals.
func TestLinkGivesUpOnUnacknowledgedBytes(t *testing.T) {
	b := idleBroker(t)
	r := b.cluster
	l := newLink(r, r.id+1, b.Addr().String())
	nc, err := l.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	raw, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	if want := int(b.cfg.FailureTimeout.Milliseconds()); got != want {
		t.Fatalf("TCP_USER_TIMEOUT %d ms, want FAILURE_TIMEOUT, %d ms", got, want)
	}
}
