package discovery

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// hangGuard turns a lost event into a failure instead of a hung test; it is
// never what a test waits for.
const hangGuard = 10 * time.Second

// manualClock hands every After request to the test, which fires it when
// the condition it is waiting for holds.
type manualClock struct{ reqs chan clockReq }

type clockReq struct {
	d    time.Duration
	fire chan time.Time
}

func newManualClock() *manualClock { return &manualClock{reqs: make(chan clockReq, 64)} }

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.reqs <- clockReq{d, ch}
	return ch
}

func (c *manualClock) next(t *testing.T) clockReq {
	t.Helper()
	select {
	case r := <-c.reqs:
		return r
	case <-time.After(hangGuard):
		t.Fatal("Discover never waited on the clock")
		return clockReq{}
	}
}

// instantClock fires every wait at once and records what was asked.
type instantClock struct {
	mu   sync.Mutex
	durs []time.Duration
}

func (c *instantClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.durs = append(c.durs, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (c *instantClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.durs...)
}

// syncBuffer collects log output written from other goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

func waitAnswer(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(hangGuard):
		t.Fatal("no answer reached Discover")
		return answer{}
	}
}

// startResponder runs a Responder on 127.0.0.1 (unicast only) until the test
// ends.
func startResponder(t *testing.T, answer AnswerFunc) (*Responder, netip.AddrPort) {
	t.Helper()
	conn, err := udpnet.ListenBroadcast(context.Background(), loopback, 0)
	if err != nil {
		t.Fatal(err)
	}
	return runResponder(t, conn, answer), conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func runResponder(t *testing.T, conn *net.UDPConn, answer AnswerFunc) *Responder {
	r := NewResponder(conn, answer, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Responder.Run: %v", err)
		}
	})
	return r
}

// leader answers every JOIN as the leader id at addr.
func leader(id, addr string, view uint64) AnswerFunc {
	return func(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
		return wire.JoinResponse{ResponderID: id, ResponderAddr: addr, IsLeader: true, LeaderID: id, LeaderAddr: addr,
			View: view, Brokers: []wire.BrokerInfo{{ID: id, Addr: addr, State: "alive"}}}, true
	}
}

// follower answers every JOIN as a follower that names leaderID.
func follower(id, addr, leaderID, leaderAddr string, view uint64) AnswerFunc {
	return func(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
		return wire.JoinResponse{ResponderID: id, ResponderAddr: addr, LeaderID: leaderID, LeaderAddr: leaderAddr, View: view}, true
	}
}

type discoverOut struct {
	res Result
	err error
}

func runDiscover(ctx context.Context, cfg Config) <-chan discoverOut {
	out := make(chan discoverOut, 1)
	go func() {
		r, err := Discover(ctx, cfg)
		out <- discoverOut{r, err}
	}()
	return out
}

func wait(t *testing.T, ch <-chan discoverOut) discoverOut {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(hangGuard):
		t.Fatal("Discover did not return")
		return discoverOut{}
	}
}
