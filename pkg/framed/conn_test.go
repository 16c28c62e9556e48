package framed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/loopback"
	"github.com/logstream/logstream/pkg/wire"
)

func pair(t *testing.T, queue int) (*Conn, *Conn) {
	a, b := net.Pipe()
	ca, cb := newTestConn(a, 1<<20, queue, 5*time.Second), newTestConn(b, 1<<20, queue, 5*time.Second)
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
	c := newTestConn(x, 1<<20, 4, time.Second)
	defer c.Close()
	go y.Write([]byte("this is not a LogStream frame at all......"))
	if _, err := c.Recv(); !errors.Is(err, wire.ErrBadMagic) {
		t.Fatalf("got %v, want ErrBadMagic", err)
	}
	if err := c.Send(wire.Frame{Type: wire.TypeHeartbeat}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after a framing error: %v", err)
	}
}

// tcpPair is a connected pair over loopback TCP, where Send writes frames
// itself when the connection is idle.
func tcpPair(t *testing.T, queue int) (*Conn, *Conn) {
	na, nb := loopback.TCPPair(t)
	ca, cb := newTestConn(na, 1<<20, queue, 5*time.Second), newTestConn(nb, 1<<20, queue, 5*time.Second)
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

// Each sender's frames arrive in the order it sent them, however direct
// writes, queued frames and TrySend interleave.
func TestDirectAndQueuedSendsKeepEachSendersOrder(t *testing.T) {
	a, b := tcpPair(t, 4)
	const senders, each = 6, 2000
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				f := wire.Frame{Type: wire.TypeHeartbeat, Corr: uint64(s)<<32 | uint64(i), Body: make([]byte, i%700)}
				if s%2 == 0 && a.TrySend(f) {
					continue
				}
				if s%2 == 0 {
					time.Sleep(time.Microsecond) // full: wait for room, keep the order
					i--
					continue
				}
				if err := a.Send(f); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]uint64, senders)
	for n := 0; n < senders*each; n++ {
		f, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		s, i := f.Corr>>32, f.Corr&(1<<32-1)
		if i != next[s] {
			t.Fatalf("sender %d: frame %d, want %d", s, i, next[s])
		}
		next[s]++
	}
	wg.Wait()
}

// A sender that sends and then waits for the answer is answered over TCP
// with no writer goroutine in between, both ways.
func TestPingPongOverTCP(t *testing.T) {
	a, b := tcpPair(t, 4)
	go func() {
		for {
			f, err := b.Recv()
			if err != nil {
				return
			}
			if b.Send(f) != nil {
				return
			}
		}
	}()
	for i := 0; i < 1000; i++ {
		if err := a.Send(wire.Frame{Type: wire.TypeHeartbeat, Corr: uint64(i)}); err != nil {
			t.Fatal(err)
		}
		f, err := a.Recv()
		if err != nil || f.Corr != uint64(i) {
			t.Fatalf("answer %d: %+v %v", i, f, err)
		}
	}
}

// A frame sent with SendBorrowed that has to wait in the queue keeps the
// bytes it was sent with, though the caller reuses its buffer at once.
func TestSendBorrowedCopiesWhatWaits(t *testing.T) {
	a, b := pair(t, 4) // net.Pipe: every frame goes through the queue
	if err := a.Send(wire.Frame{Type: wire.TypeRecords, Corr: 1, Body: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	// The writer takes the first frame and blocks writing it (nobody
	// reads yet), so the next one waits in the queue.
	for i := 0; len(a.out) > 0; i++ {
		if i == 1000 {
			t.Fatal("the writer never took the first frame")
		}
		time.Sleep(time.Millisecond)
	}
	buf := []byte("the batch as sent")
	if err := a.SendBorrowed(wire.Frame{Type: wire.TypeProduce, Corr: 2, Body: buf}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "overwritten by the next one")
	for corr := uint64(1); corr <= 2; corr++ {
		f, err := b.Recv()
		if err != nil || f.Corr != corr {
			t.Fatalf("frame %d: %v, corr %d", corr, err, f.Corr)
		}
		if corr == 2 && string(f.Body) != "the batch as sent" {
			t.Fatalf("the queued frame carries %q", f.Body)
		}
	}
}

// newConn wraps nc with the bounds these tests need.
func newTestConn(nc net.Conn, maxBody, queue int, writeTimeout time.Duration) *Conn {
	return NewWith(nc, Options{MaxBody: maxBody, Queue: queue, WriteTimeout: writeTimeout})
}

// TrySend on an idle TCP connection writes the frame itself: it reaches the
// peer from a connection whose writer goroutine never runs, where a queued
// frame would wait for ever.
func TestTrySendWritesItselfWhenIdle(t *testing.T) {
	x, b := tcpPair(t, 4)
	a := newConn(x.nc, Options{MaxBody: 1 << 20, Queue: 4}) // no writer
	defer close(a.wdone)                                    // for x's Close
	if !a.TrySend(wire.Frame{Type: wire.TypeHeartbeat, Corr: 7, Body: []byte("hello")}) {
		t.Fatal("TrySend refused a frame on an idle connection")
	}
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := b.Recv()
	if err != nil || f.Corr != 7 || string(f.Body) != "hello" {
		t.Fatalf("got %+v, %v; want the frame TrySend wrote", f, err)
	}
}

// When the socket takes only part of a TrySend's frame, the writer sends the
// rest before anything sent after it: a reader that starts late gets every
// frame whole and in order.
func TestTrySendPartialWriteKeepsTheStream(t *testing.T) {
	a, b := tcpPair(t, 64)
	const frames, size = 64, 200 << 10 // far more than the socket buffers hold
	sent := 0
	for ; sent < frames; sent++ {
		body := make([]byte, size)
		for j := range body {
			body[j] = byte(sent + j)
		}
		f := wire.Frame{Type: wire.TypeRecords, Corr: uint64(sent), Body: body}
		if !a.TrySend(f) {
			break // the queue is full: the rest waits for the reader
		}
	}
	if sent < 2 {
		t.Fatalf("only %d frames taken", sent)
	}
	b.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < sent; i++ {
		f, err := b.Recv()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Corr != uint64(i) || len(f.Body) != size {
			t.Fatalf("frame %d: corr %d, %d bytes", i, f.Corr, len(f.Body))
		}
		for j := range f.Body {
			if f.Body[j] != byte(i+j) {
				t.Fatalf("frame %d: byte %d is %d, want %d", i, j, f.Body[j], byte(i+j))
			}
		}
	}
}

// A frame TrySendBorrowed has to queue keeps the bytes it was sent with,
// though the caller reuses its buffer at once.
func TestTrySendBorrowedCopiesWhatWaits(t *testing.T) {
	a, b := pair(t, 4) // net.Pipe: no direct writes, every frame queues
	buf := []byte("the batch as sent")
	if !a.TrySendBorrowed(wire.Frame{Type: wire.TypeProduce, Corr: 1, Body: buf}) {
		t.Fatal("TrySendBorrowed refused a frame with room in the queue")
	}
	copy(buf, "overwritten by the next one")
	f, err := b.Recv()
	if err != nil || string(f.Body) != "the batch as sent" {
		t.Fatalf("got %q, %v; want the bytes as sent", f.Body, err)
	}
}

// A blocking write's deadline does not outlive it: a TrySend made after the
// deadline of an earlier Send has passed still writes, instead of failing
// the connection with a timeout (broker links dropped five seconds after
// any blocking write, and the node took the peer for dead). The first frame
// is larger than the socket takes at once, so the rest of it is written
// blocking, under a deadline; it also arrives whole.
func TestTrySendAfterAnEarlierWriteDeadline(t *testing.T) {
	na, nb := loopback.TCPPair(t)
	const timeout, size = 100 * time.Millisecond, 16 << 20 // beyond loopback's largest socket buffers
	a, b := newTestConn(na, size, 4, timeout), newTestConn(nb, size, 4, 5*time.Second)
	defer a.Close()
	defer b.Close()
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i / 4096)
	}
	type got struct {
		f   wire.Frame
		err error
	}
	frames := make(chan got, 2)
	go func() {
		b.SetReadDeadline(time.Now().Add(30 * time.Second))
		for i := 0; i < 2; i++ {
			f, err := b.Recv()
			frames <- got{f, err}
		}
	}()
	start := time.Now()
	if err := a.Send(wire.Frame{Type: wire.TypeRecords, Corr: 1, Body: body}); err != nil {
		t.Fatal(err)
	}
	for time.Since(start) < 3*timeout { // that write's deadline is long past
		time.Sleep(timeout / 10)
	}
	if !a.TrySend(wire.Frame{Type: wire.TypeHeartbeat, Corr: 2}) {
		t.Fatal("TrySend refused")
	}
	for corr := uint64(1); corr <= 2; corr++ {
		g := <-frames
		if g.err != nil || g.f.Corr != corr {
			t.Fatalf("frame %d: %+v, %v (sender: %v)", corr, g.f.Corr, g.err, a.Err())
		}
		if corr == 1 && !bytes.Equal(g.f.Body, body) {
			t.Fatal("the large frame arrived changed")
		}
	}
	if err := a.Err(); err != nil {
		t.Fatalf("connection failed: %v", err)
	}
}

// drain reads and drops every frame c receives until it closes.
func drain(c *Conn) {
	c.ReuseBodies()
	for {
		if _, err := c.Recv(); err != nil {
			return
		}
	}
}

// A Send the socket takes at once allocates nothing either: it is how a
// broker answers a client and a producer writes its batches.
func TestDirectSendAllocatesNothing(t *testing.T) {
	a, b := tcpPair(t, 4)
	go drain(b)
	f := wire.Frame{Type: wire.TypeHeartbeat, Body: make([]byte, 100)}
	a.SendBorrowed(f) // the write buffer grows once
	if n := testing.AllocsPerRun(100, func() { a.SendBorrowed(f) }); n != 0 {
		t.Fatalf("%.1f allocations per SendBorrowed, want 0", n)
	}
}

// A TrySend that writes at once allocates nothing: it runs on every
// acknowledgement and every frame to a peer.
func TestTrySendAllocatesNothing(t *testing.T) {
	a, b := tcpPair(t, 4)
	go drain(b)
	f := wire.Frame{Type: wire.TypeHeartbeat, Body: make([]byte, 100)}
	a.TrySend(f) // the write buffer grows once
	if n := testing.AllocsPerRun(100, func() { a.TrySend(f) }); n != 0 {
		t.Fatalf("%.1f allocations per TrySend, want 0", n)
	}
}

// A RecvContext whose context ends while no frame has begun returns
// ErrInterrupted and leaves the connection whole: the next frame is read
// as sent, and the connection has not failed.
func TestRecvContextInterruptedKeepsTheConnection(t *testing.T) {
	a, b := tcpPair(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.RecvContext(ctx, time.Now().Add(30*time.Second))
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v, want ErrInterrupted", err)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("the connection failed: %v", err)
	}
	if err := a.Send(wire.Frame{Type: wire.TypeHeartbeat, Corr: 9, Body: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	f, err := b.RecvContext(context.Background(), time.Now().Add(10*time.Second))
	if err != nil || f.Corr != 9 || string(f.Body) != "after" {
		t.Fatalf("got %+v, %v; want the frame sent after the interruption", f, err)
	}
}

// A frame that arrives while RecvContext waits is read whole, and the
// context ending later does not touch the connection.
func TestRecvContextReadsAFrame(t *testing.T) {
	a, b := tcpPair(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan wire.Frame, 1)
	go func() {
		f, err := b.RecvContext(ctx, time.Now().Add(30*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	body := bytes.Repeat([]byte("x"), 300<<10) // more than one read's worth
	if err := a.Send(wire.Frame{Type: wire.TypeRecords, Corr: 3, Body: body}); err != nil {
		t.Fatal(err)
	}
	if f := <-got; f.Corr != 3 || !bytes.Equal(f.Body, body) {
		t.Fatalf("got corr %d, %d bytes; want the frame as sent", f.Corr, len(f.Body))
	}
	cancel()
	if err := a.Send(wire.Frame{Type: wire.TypeHeartbeat, Corr: 4}); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := b.Recv(); err != nil || f.Corr != 4 {
		t.Fatalf("got %+v, %v after the context ended", f, err)
	}
}
