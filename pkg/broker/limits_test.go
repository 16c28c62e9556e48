package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/wire"
)

func TestConnLimiter(t *testing.T) {
	l := newConnLimiter(3, 2)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i, c := range []struct {
		ip   netip.Addr
		want string
	}{{a, ""}, {a, ""}, {a, "MAX_CONNECTIONS_PER_IP"}, {b, ""}, {b, "MAX_CONNECTIONS"}} {
		if got := l.acquire(c.ip); got != c.want {
			t.Fatalf("step %d: %q, want %q", i, got, c.want)
		}
	}
	l.release(a)
	if got := l.acquire(b); got != "" {
		t.Fatalf("after a release: %q", got)
	}
	if l.open() != 3 {
		t.Fatalf("open = %d", l.open())
	}
}

func TestFlightWindowBlocksUntilReleased(t *testing.T) {
	w := newFlightWindow(10)
	waiting := make(chan struct{}, 1)
	w.onWait = func() { waiting <- struct{}{} }
	if waited, ok := w.acquire(context.Background(), 8); waited || !ok {
		t.Fatal("first acquire waited")
	}
	got := make(chan bool, 1)
	go func() {
		waited, ok := w.acquire(context.Background(), 5)
		got <- waited && ok
	}()
	<-waiting
	w.release(8)
	if !<-got {
		t.Fatal("acquire did not report waiting")
	}
	// A batch larger than the whole window still goes through alone.
	w.release(5)
	if _, ok := w.acquire(context.Background(), 50); !ok {
		t.Fatal("oversized batch refused")
	}
	w.onWait = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := w.acquire(ctx, 1); ok {
		t.Fatal("acquire on a full window ignored its context")
	}
}

func TestRateLogAndFloodGuard(t *testing.T) {
	now := time.Unix(0, 0)
	r := newRateLog(zerolog.New(io.Discard), time.Second)
	r.now = func() time.Time { return now }
	if r.warn("x") == nil || r.warn("x") != nil || r.warn("y") == nil {
		t.Fatal("rateLog did not let exactly one line per kind through")
	}
	now = now.Add(time.Second)
	if r.warn("x") == nil {
		t.Fatal("rateLog still silent after a period")
	}

	var dropped atomic.Uint64
	g := newFloodGuard(2, time.Second, &dropped)
	g.now = func() time.Time { return now }
	log := zerolog.New(io.Discard).Hook(g)
	for i := 0; i < 5; i++ {
		log.Info().Msg("same")
		log.Debug().Msg("same") // not guarded
	}
	if dropped.Load() != 3 {
		t.Fatalf("dropped %d lines, want 3", dropped.Load())
	}
}

// A client over the per-IP bound is refused at once (the broker closes its
// connection) and counted.
func TestConnectionsPerIPAreBounded(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.MaxConnsPerIP = 2 })
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", tb.addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		defer c.Close()
	}
	// The held connections are accepted once they have been counted: the
	// metadata request shows it. Then the next connection is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for tb.conns.open() < 2 {
		select {
		case <-ctx.Done():
			t.Fatal("held connections never counted")
		case <-time.After(time.Millisecond): // polling a counter, bounded by ctx
		}
	}
	// The refused client is told which bound refused it, even though its
	// request was on the way when the broker closed.
	if _, err := client.MetadataKeyed(ctx, tb.addr(), 1<<20, nil); err == nil {
		t.Fatal("a third connection from one IP was served")
	} else if !strings.Contains(err.Error(), "MAX_CONNECTIONS_PER_IP reached (2 connections") {
		t.Fatalf("refused with %q, want the bound named", err)
	}
	if tb.counters.connsRefused.Load() == 0 {
		t.Fatal("refusal not counted")
	}
	held[0].Close()
	for tb.conns.open() > 1 {
		select {
		case <-ctx.Done():
			t.Fatal("closed connection never released")
		case <-time.After(time.Millisecond):
		}
	}
	if _, err := client.MetadataKeyed(ctx, tb.addr(), 1<<20, nil); err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
}

// In a cluster with a key, the refusal is sealed: a client with the key reads
// which bound refused it, not a key mismatch.
func TestConnectionRefusalIsSealedWithTheKey(t *testing.T) {
	key, _ := wire.NewKey([]byte("sixteen bytes at least"))
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.Key = key; c.MaxConns = 1; c.MaxConnsPerIP = 1 })
	held, err := net.Dial("tcp", tb.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for tb.conns.open() < 1 {
		select {
		case <-ctx.Done():
			t.Fatal("held connection never counted")
		case <-time.After(time.Millisecond): // polling a counter, bounded by ctx
		}
	}
	_, err = client.MetadataKeyed(ctx, tb.addr(), 1<<20, key)
	if err == nil || errors.Is(err, wire.ErrAuth) || !strings.Contains(err.Error(), "MAX_CONNECTIONS reached (1 connections at once)") {
		t.Fatalf("refused with %v, want the bound named", err)
	}
}

// With a key, a client with the same key is served, one with another key or
// none is refused with ErrAuth, and the refusal is counted.
func TestClusterKeyInProcess(t *testing.T) {
	k1, _ := wire.NewKey([]byte("sixteen bytes at least"))
	k2, _ := wire.NewKey([]byte("another sixteen bytes"))
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.Key = k1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.MetadataKeyed(ctx, tb.addr(), 1<<20, k1); err != nil {
		t.Fatalf("same key: %v", err)
	}
	for _, k := range []*wire.Key{k2, nil} {
		_, err := client.MetadataKeyed(ctx, tb.addr(), 1<<20, k)
		if !errors.Is(err, wire.ErrAuth) {
			t.Fatalf("key %v: %v, want ErrAuth", k, err)
		}
	}
	// Counted as the connection closes, which may be just after the refusal
	// reached us.
	for i := 0; tb.counters.authFailures.Load() != 2; i++ {
		if i == 500 {
			t.Fatalf("auth_failures = %d, want 2", tb.counters.authFailures.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling a counter, bounded
	}
}

// A connection that never completes a frame is dropped after the handshake
// timeout.
func TestSlowLorisIsDropped(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", tb.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x4c}) // one byte of a header, then nothing
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the broker sent something instead of closing")
	}
	// The counter is bumped by the connection's goroutine as it closes, which
	// may be just after we see the close.
	for i := 0; tb.counters.handshakeTimeouts.Load() != 1; i++ {
		if i == 500 {
			t.Fatalf("handshake_timeouts = %d", tb.counters.handshakeTimeouts.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling a counter, bounded
	}
}
