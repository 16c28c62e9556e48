package framed

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/wire"
)

func mustKey(t *testing.T, s string) *wire.Key {
	t.Helper()
	k, err := wire.NewKey([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyedPair returns a dialing side with key dk and an accepting side (which
// refuses) with key ak.
func keyedPair(t *testing.T, dk, ak *wire.Key) (client, server *Conn) {
	a, b := net.Pipe()
	client = NewWith(a, Options{MaxBody: 1 << 20, Queue: 4, WriteTimeout: 5 * time.Second, Key: dk})
	server = NewWith(b, Options{MaxBody: 1 << 20, Queue: 4, WriteTimeout: 5 * time.Second, Key: ak, Refuse: true})
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestSameKeyCarriesFrames(t *testing.T) {
	k := mustKey(t, "a shared cluster secret")
	c, s := keyedPair(t, k, k)
	for i := 0; i < 3; i++ {
		if err := c.Send(wire.Frame{Type: wire.TypeHeartbeat, Corr: uint64(i), Body: []byte("hb")}); err != nil {
			t.Fatal(err)
		}
		f, err := s.Recv()
		if err != nil || f.Corr != uint64(i) || string(f.Body) != "hb" || f.Flags != 0 {
			t.Fatalf("frame %d: %+v %v", i, f, err)
		}
	}
}

// Every mismatch is refused by the accepting side, and the dialing side
// learns why from the refusal.
func TestKeyMismatchIsRefusedWithAReason(t *testing.T) {
	k1, k2 := mustKey(t, "a shared cluster secret"), mustKey(t, "a different secret!!")
	for _, c := range []struct {
		name   string
		dk, ak *wire.Key
	}{{"wrong key", k1, k2}, {"client has none", nil, k1}, {"server has none", k1, nil}} {
		t.Run(c.name, func(t *testing.T) {
			cl, srv := keyedPair(t, c.dk, c.ak)
			if err := cl.Send(wire.Frame{Type: wire.TypeMetadata, Corr: 5}); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Recv(); !errors.Is(err, wire.ErrAuth) {
				t.Fatalf("server: %v, want ErrAuth", err)
			}
			_, err := cl.Recv()
			if !errors.Is(err, wire.ErrUnauthorized) || !strings.Contains(err.Error(), "cluster key does not match") {
				t.Fatalf("client: %v, want the refusal", err)
			}
		})
	}
}

// A keyed receiver refuses a frame replayed within its connection.
func TestReplayedFrameOnAStreamIsRefused(t *testing.T) {
	k := mustKey(t, "a shared cluster secret")
	a, b := net.Pipe()
	srv := NewWith(b, Options{Queue: 4, Key: k})
	defer srv.Close()
	frame := k.NewSealer(1).AppendFrame(nil, wire.Frame{Type: wire.TypeHeartbeat})
	go func() {
		a.Write(frame)
		a.Write(frame)
	}()
	if _, err := srv.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Recv(); !errors.Is(err, wire.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	a.Close()
}
