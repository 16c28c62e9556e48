package client

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"
)

// fakeBroker answers METADATA on 127.0.0.1 and nothing else: enough for
// connect, which asks every broker it reaches who else is in the cluster.
func fakeBroker(t *testing.T) string {
	return scriptedBroker(t, nil)
}

// scriptedBroker answers METADATA on 127.0.0.1 and hands every other frame
// to answer (nil: ignore them).
func scriptedBroker(t *testing.T, answer func(conn *framed.Conn, f wire.Frame)) string {
	t.Helper()
	return scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, self string) {
		switch {
		case f.Type == wire.TypeMetadata:
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: self}, f.Corr))
		case answer != nil:
			answer(conn, f)
		}
	})
}

// scriptedBrokerFunc is a broker on 127.0.0.1 that hands every frame it
// receives, the first METADATA included, to answer, with its own address.
func scriptedBrokerFunc(t *testing.T, answer func(conn *framed.Conn, f wire.Frame, self string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return // listener closed by Cleanup
			}
			go func() {
				conn := framed.NewWith(nc, framed.Options{MaxBody: wire.DefaultMaxFrame, Queue: 4, WriteTimeout: time.Second})
				defer conn.Close()
				for {
					f, err := conn.Recv()
					if err != nil {
						return
					}
					answer(conn, f, ln.Addr().String())
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// produceAck decodes a PRODUCE frame for a scripted broker: the
// acknowledgement of all its records and the first record's payload. ok is
// false, and the test told, for any other frame.
func produceAck(t *testing.T, f wire.Frame) (ack wire.ProduceAck, first []byte, ok bool) {
	var m wire.Produce
	if f.Type != wire.TypeProduce || m.Unmarshal(f.Body) != nil || len(m.Records) == 0 {
		t.Errorf("want a PRODUCE with records, got a %v frame", f.Type)
		return ack, nil, false
	}
	return wire.ProduceAck{Topic: m.Topic, FirstSeq: m.Records[0].Seq, Count: uint32(len(m.Records))}, m.Records[0].Payload, true
}

// closedAddr is a loopback address nobody listens on: dialling it is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func countingLink(found string, calls *atomic.Int32) *link {
	return newLink(Options{ReconnectAttempts: 1, ReconnectDelay: 10 * time.Millisecond, Logger: zerolog.Nop(),
		Discover: func(context.Context) (string, error) {
			calls.Add(1)
			return found, nil
		}})
}

// A redirect names the broker to go to: asking discovery first would add its
// listening window (500 ms) to every move of a topic.
func TestConnectTakesALiveRedirectWithoutDiscovery(t *testing.T) {
	owner := fakeBroker(t)
	var calls atomic.Int32
	l := countingLink(closedAddr(t), &calls)
	var lastErr error
	conn, addr, err := l.connectOnce(context.Background(), owner, &lastErr)
	if conn == nil {
		t.Fatal(err, lastErr)
	}
	conn.Close()
	if addr != owner {
		t.Errorf("connected to %s, want the redirect target %s", addr, owner)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("discovery ran %d times before the redirect target was tried", n)
	}
}

// A dead redirect target is not the end: the client asks the cluster.
func TestConnectFallsBackToDiscoveryWhenTheRedirectIsDead(t *testing.T) {
	leader := fakeBroker(t)
	var calls atomic.Int32
	l := countingLink(leader, &calls)
	var lastErr error
	conn, addr, err := l.connectOnce(context.Background(), closedAddr(t), &lastErr)
	if conn == nil {
		t.Fatal(err, lastErr)
	}
	conn.Close()
	if addr != leader || calls.Load() != 1 {
		t.Errorf("connected to %s after %d discoveries, want %s after 1", addr, calls.Load(), leader)
	}
}

// A client that knows brokers and found none serving broadcasts one round,
// then goes back to its attempt loop (known brokers first, after a short
// pause); a first connection runs discovery's whole schedule. A cluster
// restarted as a whole is then found within a pause of serving again.
func TestReconnectingDiscoveryIsOneRound(t *testing.T) {
	l := newLink(Options{Logger: zerolog.Nop()})
	if got := l.discoveryConfig(true).Attempts; got != 1 {
		t.Errorf("reconnecting: %d discovery rounds, want 1", got)
	}
	if got := l.discoveryConfig(false).Attempts; got != 0 {
		t.Errorf("first connection: %d discovery rounds, want discovery's own schedule (0)", got)
	}
}
