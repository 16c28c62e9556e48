package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

// These tests use unicast on 127.0.0.1 only: Targets are the responders'
// own loopback addresses.

func baseConfig(t *testing.T, targets ...netip.AddrPort) Config {
	return Config{
		Role: wire.RoleProducer, NodeID: "prod1", Bind: loopback, Targets: targets,
		Attempts: 3, Listen: time.Hour /* the clock decides */, Logger: testLogger(t),
	}
}

func TestDiscoverFindsLeader(t *testing.T) {
	joins := make(chan wire.Join, 4)
	ans := leader("node1", "127.0.0.1:8001", 7)
	r, addr := startResponder(t, func(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
		joins <- j
		return ans(j, from)
	})
	clk := newManualClock()
	got := make(chan answer, 4)
	cfg := baseConfig(t, addr)
	cfg.Clock, cfg.onAnswer, cfg.Addr = clk, func(a answer) { got <- a }, "127.0.0.1:9100"
	cfg.NewNonce = func() uint64 { return 42 }
	out := runDiscover(context.Background(), cfg)

	window := clk.next(t)
	if window.d != time.Hour {
		t.Errorf("listen window %v, want the configured Listen", window.d)
	}
	a := waitAnswer(t, got)
	if a.resp.Nonce != 42 {
		t.Errorf("responder did not echo the nonce: %d", a.resp.Nonce)
	}
	window.fire <- time.Time{}
	o := wait(t, out)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.LeaderID != "node1" || o.res.LeaderAddr != "127.0.0.1:8001" || o.res.View != 7 || o.res.Responder != addr ||
		len(o.res.Brokers) != 1 || o.res.Brokers[0].ID != "node1" {
		t.Errorf("result %+v", o.res)
	}
	j := <-joins
	if j.Role != wire.RoleProducer || j.NodeID != "prod1" || j.Addr != "127.0.0.1:9100" || j.Nonce != 42 {
		t.Errorf("JOIN as received: %+v", j)
	}
	waitCounters(t, r, func(c map[string]uint64) bool {
		return c["joins"] == 1 && c["answered"] == 1 && c["malformed"] == 0
	})
}

// waitCounters waits until r's counters satisfy ok. The responder counts an
// answer after sending it, so the count may land just after the answer does.
func waitCounters(t *testing.T, r *Responder, ok func(map[string]uint64) bool) {
	t.Helper()
	for i := 0; ; i++ {
		c := r.Counters()
		if ok(c) {
			return
		}
		if i == 500 {
			t.Fatalf("counters %v", c)
		}
		time.Sleep(time.Millisecond) // polling a counter, bounded
	}
}

// TestDiscoverNoCluster: a responder that stays silent; Discover makes every
// attempt, waits the backoff schedule between them and gives up with advice.
func TestDiscoverNoCluster(t *testing.T) {
	heard := make(chan struct{}, 8)
	_, addr := startResponder(t, func(wire.Join, netip.AddrPort) (wire.JoinResponse, bool) {
		heard <- struct{}{}
		return wire.JoinResponse{}, false
	})
	var logs syncBuffer
	clk := &instantClock{}
	cfg := baseConfig(t, addr)
	cfg.Clock, cfg.Listen, cfg.Logger = clk, 50*time.Millisecond, zerolog.New(&logs)
	_, err := Discover(context.Background(), cfg)
	if !errors.Is(err, ErrNoCluster) {
		t.Fatalf("err = %v, want ErrNoCluster", err)
	}
	for _, want := range []string{"logstream netdiag", "--leader", addr.String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	ms := time.Millisecond
	wantWaits := []time.Duration{50 * ms, 1000 * ms, 50 * ms, 1500 * ms, 50 * ms}
	if got := clk.waits(); !equalDurations(got, wantWaits) {
		t.Errorf("waits %v, want %v", got, wantWaits)
	}
	for _, want := range []string{"attempt 1/3", "attempt 2/3", "attempt 3/3"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// Every attempt reached the responder, which chose silence. The last
	// JOIN may still be in flight when Discover returns, so wait for it.
	for i := 0; i < 3; i++ {
		select {
		case <-heard:
		case <-time.After(hangGuard):
			t.Fatalf("responder heard %d JOINs, want 3", i)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDiscoverIgnoresItself: a broker hears its own Responder; that is not
// a cluster, so a lone broker gets ErrNoCluster and becomes leader.
func TestDiscoverIgnoresItself(t *testing.T) {
	_, addr := startResponder(t, leader("node1", "127.0.0.1:8001", 1))
	cfg := baseConfig(t, addr)
	cfg.Role, cfg.NodeID, cfg.Attempts, cfg.Clock = wire.RoleBroker, "node1", 2, &instantClock{}
	if _, err := Discover(context.Background(), cfg); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("err = %v, want ErrNoCluster", err)
	}
}

// TestDiscoverNonceMismatch: replies with a foreign nonce, of the wrong type
// or garbled are dropped; only the matching answer counts.
func TestDiscoverNonceMismatch(t *testing.T) {
	conn, err := udpnet.ListenBroadcast(context.Background(), loopback, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fake := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	served := make(chan error, 1)
	go func() {
		buf := make([]byte, udpnet.MaxDatagram)
		conn.SetReadDeadline(time.Now().Add(hangGuard))
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			served <- err
			return
		}
		j, corr, err := parseJoin(buf[:n])
		if err != nil {
			served <- err
			return
		}
		impostor := wire.JoinResponse{Nonce: j.Nonce + 1, ResponderID: "impostor", IsLeader: true, LeaderID: "impostor", LeaderAddr: "127.0.0.1:6666"}
		good := wire.JoinResponse{Nonce: j.Nonce, ResponderID: "node1", IsLeader: true, LeaderID: "node1", LeaderAddr: "127.0.0.1:8001"}
		for _, d := range [][]byte{
			appendJoinResponse(nil, impostor, corr),
			[]byte("not a frame at all"),
			appendJoin(nil, j), // a JOIN is not an answer
			appendJoinResponse(nil, good, corr)[:30],
			appendJoinResponse(nil, good, corr),
		} {
			if err := udpnet.Send(conn, d, from, 0); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	clk := newManualClock()
	got := make(chan answer, 8)
	cfg := baseConfig(t, fake)
	cfg.Clock, cfg.onAnswer = clk, func(a answer) { got <- a }
	out := runDiscover(context.Background(), cfg)
	window := clk.next(t)
	a := waitAnswer(t, got)
	if a.resp.ResponderID != "node1" {
		t.Fatalf("first accepted answer is from %q", a.resp.ResponderID)
	}
	window.fire <- time.Time{}
	o := wait(t, out)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if o.err != nil || o.res.LeaderID != "node1" {
		t.Fatalf("Discover = %+v, %v", o.res, o.err)
	}
	if len(got) != 0 {
		t.Errorf("%d more answers accepted", len(got))
	}
}

// TestDiscoverSplitBrain: two leaders answer; Discover says it waits for the
// election, retries after the backoff, and accepts the leader once the
// other broker has stepped down.
func TestDiscoverSplitBrain(t *testing.T) {
	_, a1 := startResponder(t, leader("node1", "127.0.0.1:8001", 3))
	var stepDown atomic.Bool
	asLeader := leader("node2", "127.0.0.1:8002", 3)
	asFollower := follower("node2", "127.0.0.1:8002", "node1", "127.0.0.1:8001", 4)
	_, a2 := startResponder(t, func(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
		if stepDown.Load() {
			return asFollower(j, from)
		}
		return asLeader(j, from)
	})
	var logs syncBuffer
	clk := newManualClock()
	got := make(chan answer, 8)
	cfg := baseConfig(t, a1, a2)
	cfg.Clock, cfg.onAnswer, cfg.Logger = clk, func(a answer) { got <- a }, zerolog.New(&logs)
	out := runDiscover(context.Background(), cfg)

	window := clk.next(t)
	waitAnswer(t, got)
	waitAnswer(t, got)
	window.fire <- time.Time{}
	backoff := clk.next(t)
	if backoff.d != time.Second {
		t.Errorf("backoff %v, want 1s", backoff.d)
	}
	if !strings.Contains(logs.String(), "split brain") || !strings.Contains(logs.String(), "waiting for the election") {
		t.Errorf("split brain not logged:\n%s", logs.String())
	}
	stepDown.Store(true)
	backoff.fire <- time.Time{}
	window = clk.next(t)
	waitAnswer(t, got)
	waitAnswer(t, got)
	window.fire <- time.Time{}
	o := wait(t, out)
	if o.err != nil || o.res.LeaderID != "node1" || o.res.Responder != a1 {
		t.Fatalf("Discover = %+v, %v", o.res, o.err)
	}
}

func TestDiscoverSplitBrainPersists(t *testing.T) {
	_, a1 := startResponder(t, leader("node1", "127.0.0.1:8001", 3))
	_, a2 := startResponder(t, leader("node2", "127.0.0.1:8002", 3))
	clk := newManualClock()
	got := make(chan answer, 8)
	cfg := baseConfig(t, a1, a2)
	cfg.Attempts, cfg.Clock, cfg.onAnswer = 2, clk, func(a answer) { got <- a }
	out := runDiscover(context.Background(), cfg)
	for attempt := 1; attempt <= 2; attempt++ {
		window := clk.next(t)
		waitAnswer(t, got)
		waitAnswer(t, got)
		window.fire <- time.Time{}
		if attempt == 1 {
			clk.next(t).fire <- time.Time{}
		}
	}
	o := wait(t, out)
	if !errors.Is(o.err, ErrSplitBrain) || !strings.Contains(o.err.Error(), "node1@127.0.0.1:8001") || !strings.Contains(o.err.Error(), "--leader") {
		t.Fatalf("err = %v, want ErrSplitBrain naming both leaders", o.err)
	}
}

func TestDiscoverNoLeader(t *testing.T) {
	_, addr := startResponder(t, follower("node2", "127.0.0.1:8002", "", "", 4))
	clk := newManualClock()
	got := make(chan answer, 8)
	cfg := baseConfig(t, addr)
	cfg.Attempts, cfg.Clock, cfg.onAnswer = 1, clk, func(a answer) { got <- a }
	out := runDiscover(context.Background(), cfg)
	window := clk.next(t)
	waitAnswer(t, got)
	window.fire <- time.Time{}
	if o := wait(t, out); !errors.Is(o.err, ErrNoLeader) {
		t.Fatalf("err = %v, want ErrNoLeader", o.err)
	}
}

func TestDiscoverCancel(t *testing.T) {
	_, addr := startResponder(t, func(wire.Join, netip.AddrPort) (wire.JoinResponse, bool) { return wire.JoinResponse{}, false })
	clk := newManualClock()
	cfg := baseConfig(t, addr)
	cfg.Clock = clk
	ctx, cancel := context.WithCancel(context.Background())
	out := runDiscover(ctx, cfg)
	clk.next(t) // waiting in the first window
	cancel()
	if o := wait(t, out); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", o.err)
	}
}

// TestResponderSurvivesGarbage: hostile datagrams are counted and dropped,
// and the Responder keeps answering.
func TestResponderSurvivesGarbage(t *testing.T) {
	r, addr := startResponder(t, leader("node1", "127.0.0.1:8001", 1))
	tx, err := udpnet.NewSenderOn(netip.AddrPortFrom(loopback, 0), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	join := wire.Join{Role: wire.RoleConsumer, NodeID: "c1", Nonce: 9}
	valid := appendJoin(nil, join)
	badBody := wire.AppendFrame(nil, wire.Frame{Type: wire.TypeJoin, Body: []byte{0xff, 0xff, 0xff}})
	hb := wire.AppendFrame(nil, wire.Frame{Type: wire.TypeHeartbeat, Body: []byte{1}})
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)-1] ^= 0x40
	huge := wire.AppendFrame(nil, wire.Frame{Type: wire.TypeJoin, Body: make([]byte, maxJoinBody+1)})
	garbage := [][]byte{
		{}, {0}, []byte("JOIN please"),
		valid[:wire.HeaderSize-1], valid[:len(valid)-1], // truncated
		append(append([]byte(nil), valid...), 0), // trailing byte
		flipped, badBody, huge,
	}
	for _, g := range garbage {
		if err := udpnet.Send(tx, g, addr, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := udpnet.Send(tx, hb, addr, 0); err != nil {
		t.Fatal(err)
	}
	// A valid JOIN from the same socket arrives after all of the above.
	if err := udpnet.Send(tx, valid, addr, 0); err != nil {
		t.Fatal(err)
	}
	tx.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, udpnet.MaxDatagram)
	n, _, err := tx.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := parseJoinResponse(buf[:n])
	if err != nil || resp.Nonce != 9 || resp.LeaderID != "node1" {
		t.Fatalf("reply %+v, %v", resp, err)
	}
	waitCounters(t, r, func(c map[string]uint64) bool {
		return c["malformed"] == uint64(len(garbage)) && c["wrong_type"] == 1 && c["joins"] == 1 && c["answered"] == 1 &&
			c["datagrams"] == uint64(len(garbage))+2
	})
	// And Discover still works against it.
	cfg := baseConfig(t, addr)
	clk := newManualClock()
	got := make(chan answer, 1)
	cfg.Clock, cfg.onAnswer = clk, func(a answer) { got <- a }
	out := runDiscover(context.Background(), cfg)
	window := clk.next(t)
	waitAnswer(t, got)
	window.fire <- time.Time{}
	if o := wait(t, out); o.err != nil || o.res.LeaderID != "node1" {
		t.Fatalf("Discover = %+v, %v", o.res, o.err)
	}
}
