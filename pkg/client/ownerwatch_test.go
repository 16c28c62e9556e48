package client

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"
)

// silentBroker answers the first METADATA (so a client connects) and then
// nothing: a paused or cut-off broker, seen from the client.
func silentBroker(t *testing.T) string {
	t.Helper()
	var answered atomic.Bool
	return scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, self string) {
		if f.Type == wire.TypeMetadata && answered.CompareAndSwap(false, true) {
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: self}, f.Corr))
		}
	})
}

// ownerSayer answers METADATA saying the topic "logs" lives at owner.
func ownerSayer(t *testing.T, owner func() string) string {
	t.Helper()
	return scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, self string) {
		if f.Type == wire.TypeMetadata {
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: self,
				Topics: []wire.TopicInfo{{Name: "logs", OwnerAddr: owner()}}}, f.Corr))
		}
	})
}

func watchLink(book ...string) *link {
	l := newLink(Options{HBInterval: 20 * time.Millisecond, HBTimeout: 10 * time.Second, Logger: zerolog.Nop()})
	l.topic = "logs"
	for _, b := range book {
		l.book.add(b)
	}
	return l
}

// A silent broker whose topic the cluster moved is left at once, for the
// new owner, long before -hb-timeout (10 s here).
func TestOwnerWatchFollowsAMovedTopic(t *testing.T) {
	silent := silentBroker(t)
	newOwner := "10.9.9.9:8001"
	other := ownerSayer(t, func() string { return newOwner })
	l := watchLink(silent, other)
	conn, err := l.dial(context.Background(), silent, defaults.ClientDialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	w := l.watchOwner(conn, silent)
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not leave the silent broker whose topic moved")
	}
	if to := w.stop(); to != newOwner {
		t.Errorf("moved to %q, want %q", to, newOwner)
	}
}

// A silent broker the cluster still names as the owner is not left: only
// -hb-timeout ends that session (a slow broker is not a failed one).
func TestOwnerWatchStaysWhileTheClusterAgrees(t *testing.T) {
	silent := silentBroker(t)
	other := ownerSayer(t, func() string { return silent })
	l := watchLink(silent, other)
	conn, err := l.dial(context.Background(), silent, defaults.ClientDialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := l.watchOwner(conn, silent)
	select {
	case <-conn.Done():
		t.Fatal("the watch left a broker the cluster still names as the owner")
	case <-time.After(300 * time.Millisecond): // 15 beats of probing: a bounded observation window, not a sync
	}
	if to := w.stop(); to != "" {
		t.Errorf("moved to %q, want nowhere", to)
	}
}

// Reconnecting, the client tries the brokers it knows — the one it just
// lost last — before discovery, which listens a whole window first.
func TestReconnectTriesKnownBrokersFirst(t *testing.T) {
	lost, live := fakeBroker(t), fakeBroker(t)
	var calls atomic.Int32
	l := countingLink(closedAddr(t), &calls)
	l.book.add(lost)
	l.book.add(live)
	l.last = lost
	var lastErr error
	conn, addr, err := l.connectOnce(context.Background(), "", &lastErr)
	if conn == nil {
		t.Fatal(err, lastErr)
	}
	conn.Close()
	if addr != live || calls.Load() != 0 {
		t.Errorf("connected to %s after %d discoveries; want %s (not the broker just lost) and none", addr, calls.Load(), live)
	}
}

// A producer whose broker fell silent reconnects through a live broker,
// which still names the silent one as the topic's owner until the cluster
// judges it. The producer must not wait on the silent broker again (each
// try cost it a 2 s handshake): it asks again shortly until the cluster
// names the new owner, then goes there.
func TestRedirectToTheSilentBrokerIsNotFollowed(t *testing.T) {
	var aConns atomic.Int32
	// The brokers' handlers read each other's addresses from their own
	// goroutines, so the addresses are atomics: the network between them and
	// the test is no synchronization the race detector can see.
	var aAddr, bAddr, cAddr atomic.Value
	addr := func(v *atomic.Value) string { s, _ := v.Load().(string); return s }
	var moved atomic.Bool
	var redirectsToA atomic.Int32
	owner := func() string {
		if moved.Load() {
			return addr(&cAddr)
		}
		return addr(&aAddr)
	}
	a := scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, self string) {
		if f.Type == wire.TypeMetadata && aConns.Add(1) == 1 {
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: self,
				Brokers: []wire.BrokerInfo{{Addr: addr(&aAddr)}, {Addr: addr(&bAddr)}}}, f.Corr)) // c is new: learnt from the redirect
		} // then nothing: paused
	})
	aAddr.Store(a)
	b := scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, self string) {
		switch f.Type {
		case wire.TypeMetadata:
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: self, Topics: []wire.TopicInfo{{Name: "t", OwnerAddr: owner()}}}, f.Corr))
		case wire.TypeProduce:
			to := owner()
			if to == addr(&aAddr) && redirectsToA.Add(1) >= 2 {
				moved.Store(true) // the cluster judged a failed and moved its topic
			}
			conn.Send(wire.Encode(&wire.ProduceAck{Code: wire.ErrNotOwner, Message: "not here", Redirect: to}, f.Corr))
		}
	})
	bAddr.Store(b)
	c := scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, self string) {
		switch f.Type {
		case wire.TypeMetadata:
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: self}, f.Corr))
		case wire.TypeProduce:
			if ack, _, ok := produceAck(t, f); ok {
				conn.Send(wire.Encode(&ack, f.Corr))
			}
		}
	})
	cAddr.Store(c)
	o := Options{ClientID: "test-client", ReconnectAttempts: 50, ReconnectDelay: 50 * time.Millisecond,
		HBInterval: 40 * time.Millisecond, HBTimeout: 300 * time.Millisecond, Logger: zerolog.Nop(),
		Discover: func(context.Context) (string, error) { return a, nil }}
	prod := NewProducer(o, ProducerOptions{Topic: "t"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- prod.Run(ctx) }()
	if err := prod.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("the record was never acknowledged: %v", err)
	}
	cancel()
	<-done
	if n := aConns.Load(); n != 1 {
		t.Errorf("the silent broker was dialled %d times; want once (before it fell silent)", n)
	}
	if redirectsToA.Load() < 2 {
		t.Errorf("the live broker redirected to the silent one %d times; the test wants at least 2", redirectsToA.Load())
	}
}
