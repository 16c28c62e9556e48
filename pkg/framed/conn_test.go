package framed

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/wire"
)

func pair(t *testing.T, queue int) (*Conn, *Conn) {
	a, b := net.Pipe()
	ca, cb := New(a, 1<<20, queue, 5*time.Second), New(b, 1<<20, queue, 5*time.Second)
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

func TestManySendersOneReader(t *testing.T) {
	a, b := pair(t, 8)
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := a.Send(wire.Frame{Type: wire.TypeHeartbeat, Corr: uint64(s*each + i), Body: []byte(fmt.Sprint(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := map[uint64]bool{}
	for len(seen) < senders*each {
		f, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if seen[f.Corr] {
			t.Fatalf("frame %d twice", f.Corr)
		}
		seen[f.Corr] = true
	}
	wg.Wait()
}

func TestCloseUnblocksSendAndRecv(t *testing.T) {
	a, b := pair(t, 1)
	// Nobody reads b, so a's queue fills and Send blocks until Close.
	errc := make(chan error, 1)
	go func() {
		for {
			if err := a.Send(wire.Frame{Type: wire.TypeHeartbeat, Body: make([]byte, 1024)}); err != nil {
				errc <- err
				return
			}
		}
	}()
	recvErr := make(chan error, 1)
	go func() {
		_, err := a.Recv()
		recvErr <- err
	}()
	a.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := <-recvErr; err == nil {
		t.Fatal("Recv returned no error after Close")
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed")
	}
	_ = b
}

func TestTrySendReportsFullQueue(t *testing.T) {
	a, _ := pair(t, 1)
	full := false
	for i := 0; i < 100 && !full; i++ {
		full = !a.TrySend(wire.Frame{Type: wire.TypeHeartbeat, Body: make([]byte, 1024)})
	}
	if !full {
		t.Fatal("TrySend never reported a full queue although nobody reads")
	}
}

func TestBadFrameEndsConnection(t *testing.T) {
	x, y := net.Pipe()
	c := New(x, 1<<20, 4, time.Second)
	defer c.Close()
	go y.Write([]byte("this is not a LogStream frame at all......"))
	if _, err := c.Recv(); !errors.Is(err, wire.ErrBadMagic) {
		t.Fatalf("got %v, want ErrBadMagic", err)
	}
	if err := c.Send(wire.Frame{Type: wire.TypeHeartbeat}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after a framing error: %v", err)
	}
}
