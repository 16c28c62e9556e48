// Package framed runs a long-lived TCP connection that carries wire frames
// both ways: one reader (the caller of Recv) and any number of senders.
//
// A Send finding the connection idle (nothing queued, no write under way)
// writes its frame itself: no hand-off to another goroutine on the path of a
// request or its answer, which on a loaded machine costs more than the write.
// TrySend, for callers that must never block (the cluster loop), writes
// itself too when the connection is idle, but only what the socket takes at
// once (a non-blocking write); the writer sends the rest.
// Otherwise sends go through a bounded queue drained by one writer goroutine,
// which coalesces whatever is queued into one write, so pipelined requests
// and responses cost few system calls. A full queue blocks the sender: that
// is the back-pressure a slow peer exerts, and the queue bound is what keeps
// a slow peer from growing our memory. Frames of one goroutine go out in the
// order it sent them either way: the writer takes frames off the queue only
// while it holds the write lock, and a Send writes directly only while
// holding that lock with the queue empty.
package framed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/wire"
)

// ErrClosed is returned by Send after Close or a write failure.
var ErrClosed = errors.New("connection closed")

// coalesce bounds how many bytes the writer gathers before one write.
const coalesce = 256 << 10

// Conn is a framed connection. The writer goroutine is started by New and
// stopped by Close (or by a write error); Close also unblocks Recv.
type Conn struct {
	nc     net.Conn
	r      *wire.Reader
	out    chan wire.Frame
	kick   chan struct{} // a frame was queued: the writer looks at out
	direct bool          // a socket with a kernel buffer: Send may write itself
	wmu    sync.Mutex    // held while taking frames off out and writing nc
	wbuf   []byte        // wmu-owned: the bytes of a direct write
	// rest is the unwritten tail of a non-blocking write (TrySend),
	// wmu-owned: it goes out before anything queued or sent after it.
	rest []byte
	raw  syscall.RawConn // for non-blocking writes; nil where direct is false
	// rawWrite is writeNoWait's one write(2), made once: a closure built
	// per call escaped to the heap, allocations on every frame. It writes
	// rawBuf and leaves rawN and rawErr; all wmu-owned.
	rawWrite func(fd uintptr) bool
	rawBuf   []byte
	rawN     int
	rawErr   error
	done     chan struct{}
	once     sync.Once
	wdone    chan struct{}
	timeout  time.Duration
	mu       sync.Mutex
	err      error

	sealer  *wire.Sealer // wmu-owned; nil without a key
	opener  *wire.Opener // reader-owned; nil without a key
	lastSeq uint64       // reader-owned: the peer's sealed frames count up
	refuse  bool
	last    []byte // written unsealed before the socket closes (a refusal)
}

// Options configure a Conn beyond New's arguments.
type Options struct {
	MaxBody      int           // largest received body (<= 0: wire.DefaultMaxFrame)
	Queue        int           // frames waiting to be written
	WriteTimeout time.Duration // bounds one write
	// Key seals every frame sent and requires every frame received to be
	// sealed with it; nil means an open cluster, where sealed frames are
	// refused instead.
	Key *wire.Key
	// Refuse is for the accepting side: when a received frame fails the key
	// check, the peer is sent one unsealed ERROR UNAUTHORIZED (so a client
	// with the wrong key can say so) before the connection closes.
	Refuse bool
}

// NewWith wraps nc as configured by o.
func NewWith(nc net.Conn, o Options) *Conn {
	c := newConn(nc, o)
	go c.writeLoop()
	return c
}

// newConn is NewWith without starting the writer.
func newConn(nc net.Conn, o Options) *Conn {
	c := &Conn{
		nc:      nc,
		r:       wire.NewReader(nc, o.MaxBody),
		out:     make(chan wire.Frame, max(o.Queue, 1)),
		kick:    make(chan struct{}, 1),
		direct:  hasSendBuffer(nc),
		done:    make(chan struct{}),
		wdone:   make(chan struct{}),
		timeout: o.WriteTimeout,
		refuse:  o.Refuse,
	}
	if o.Key != nil {
		c.sealer = o.Key.NewSealer(wire.RandomID())
		c.opener = o.Key.NewOpener()
	}
	if sc, ok := nc.(syscall.Conn); ok && c.direct {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.rawWrite = func(fd uintptr) bool {
				c.rawN, c.rawErr = unix.Write(int(fd), c.rawBuf)
				return true // one attempt: never wait for the socket to drain
			}
		}
	}
	return c
}

// hasSendBuffer says a write to nc returns once the kernel has the bytes.
// Not so on net.Pipe (tests), where a write waits for the reader: a
// goroutine that sends and then receives would wait for itself.
func hasSendBuffer(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// Send writes f at once when the connection is idle, else queues it for the
// writer, blocking while the queue is full (a direct write blocks while the
// socket's buffer is full, bounded by the write timeout). f.Body must not be
// modified afterwards.
func (c *Conn) Send(f wire.Frame) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	if sent, err := c.tryDirect(f); sent {
		return err
	}
	select {
	case c.out <- f:
		c.wake()
		return nil
	case <-c.done:
		return c.closedErr()
	}
}

// SendBorrowed is Send for a body the caller reuses once it returns: a
// direct write copies it into the write buffer as Send does, and only a
// frame that must wait in the queue gets a copy of its own. A sender that
// encodes frame after frame into one buffer (the producer's PRODUCE frames)
// then allocates nothing per frame on an idle connection.
func (c *Conn) SendBorrowed(f wire.Frame) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	if sent, err := c.tryDirect(f); sent {
		return err
	}
	f.Body = bytes.Clone(f.Body)
	return c.Send(f)
}

// tryDirect writes f on the caller's goroutine when the connection is idle
// (nothing queued, the writer not writing); sent is false if f must queue.
func (c *Conn) tryDirect(f wire.Frame) (sent bool, err error) {
	if !c.direct || !c.wmu.TryLock() {
		return false, nil
	}
	defer c.wmu.Unlock()
	if !c.idle() {
		return false, nil
	}
	// Everything sent before us is written: the writer empties the queue
	// only while it holds wmu.
	return true, c.writeDirect(f)
}

// SendMessage is Send(wire.Encode(m, corr)), but when it writes directly it
// encodes m straight into its write buffer: no body is allocated and then
// copied (a subscription's RECORDS frames, a hundred KB each). Queued, or
// sealed, it encodes as Send does.
func (c *Conn) SendMessage(m wire.Message, corr uint64) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	if c.direct && c.sealer == nil && c.wmu.TryLock() {
		if c.idle() {
			c.wbuf = wire.AppendMessage(c.wbuf[:0], m, corr)
			err := c.writeBuf()
			c.wmu.Unlock()
			return err
		}
		c.wmu.Unlock()
	}
	return c.Send(wire.Encode(m, corr))
}

// idle says nothing sent before waits to be written. Caller holds wmu (the
// writer takes frames off out, and writes rest, only under it).
func (c *Conn) idle() bool { return len(c.out) == 0 && c.rest == nil }

// writeDirect writes f from the caller's goroutine. Caller holds wmu.
func (c *Conn) writeDirect(f wire.Frame) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	c.wbuf = c.appendFrame(c.wbuf[:0], f)
	return c.writeBuf()
}

// writeBuf writes c.wbuf. Caller holds wmu.
func (c *Conn) writeBuf() error {
	err := c.write(c.wbuf)
	if cap(c.wbuf) > coalesce {
		c.wbuf = nil // do not keep one huge frame's buffer
	}
	if err != nil {
		c.fail(err)
		return c.closedErr()
	}
	return nil
}

// write makes a blocking write of b, bounded by the write timeout. Caller
// holds wmu. It tries one non-blocking write first: a socket with room
// takes a small frame (an acknowledgement) whole, and then no deadline is
// set and cleared around the write — two timer updates and a clock read
// on the path of every answer, a tenth of a lone broker's time per record.
func (c *Conn) write(b []byte) error {
	if c.raw != nil {
		n, err := c.writeNoWait(b)
		if err != nil || n == len(b) {
			return err
		}
		b = b[n:]
	}
	if c.timeout == 0 {
		_, err := c.nc.Write(b)
		return err
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(b)
	// The deadline ends with this write: a later non-blocking write
	// (writeNoWait) would otherwise fail on it once it passed — a healthy
	// link dropped five seconds after any blocking write on it.
	c.nc.SetWriteDeadline(time.Time{})
	return err
}

func (c *Conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// TrySend sends f without ever blocking, and reports whether it did; false
// means the queue is full. On an idle connection it writes f itself, as
// much as the socket's buffer takes at once, and leaves the rest to the
// writer; otherwise it queues f. Callers that must never block (the cluster
// loop answering many clients, writing to its peers) use it and treat a full
// queue as a peer too slow to keep. A closed connection takes f and drops
// it (true), as Send's queue would.
func (c *Conn) TrySend(f wire.Frame) bool { return c.trySend(f, false) }

// TrySendBorrowed is TrySend for a body the caller reuses once it returns
// (see SendBorrowed): only a frame that must wait in the queue gets a copy.
func (c *Conn) TrySendBorrowed(f wire.Frame) bool { return c.trySend(f, true) }

func (c *Conn) trySend(f wire.Frame, borrowed bool) bool {
	select {
	case <-c.done:
		return true
	default:
	}
	if c.raw != nil && c.wmu.TryLock() {
		if c.idle() {
			c.sendNoWait(f)
			c.wmu.Unlock()
			return true
		}
		c.wmu.Unlock()
	}
	if borrowed {
		if len(c.out) == cap(c.out) {
			return false // no copy for a frame that cannot queue
		}
		f.Body = bytes.Clone(f.Body)
	}
	select {
	case c.out <- f:
		c.wake()
		return true
	default:
		return false
	}
}

// sendNoWait writes f with one non-blocking write; what the socket did not
// take becomes rest, for the writer. Caller holds wmu, the connection idle.
func (c *Conn) sendNoWait(f wire.Frame) {
	c.wbuf = c.appendFrame(c.wbuf[:0], f)
	n, err := c.writeNoWait(c.wbuf)
	if err != nil {
		c.fail(err)
		return
	}
	if n < len(c.wbuf) {
		c.rest = append([]byte(nil), c.wbuf[n:]...)
		c.wake()
	}
	if cap(c.wbuf) > coalesce {
		c.wbuf = nil
	}
}

// writeNoWait makes one write(2) of b on the socket (non-blocking, as Go
// keeps every socket) and returns how much the kernel took: zero when its
// buffer is full. Caller holds wmu.
func (c *Conn) writeNoWait(b []byte) (int, error) {
	c.rawBuf = b
	err := c.raw.Write(c.rawWrite)
	n, werr := c.rawN, c.rawErr
	c.rawBuf, c.rawErr = nil, nil
	if err != nil {
		return 0, err
	}
	switch {
	case werr == unix.EAGAIN || werr == unix.EINTR:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return max(n, 0), nil
}

// Recv returns the next frame. Only one goroutine may call it.
//
// A frame failing the key check (see Options.Key) ends the connection with
// an error wrapping wire.ErrAuth; so does the peer's refusal (an unsealed
// ERROR UNAUTHORIZED), whose message the error carries.
func (c *Conn) Recv() (wire.Frame, error) {
	f, err := c.r.Next()
	if err != nil {
		c.fail(err)
		return f, err
	}
	if msg, ok := wire.IsRefusal(f); ok {
		err := fmt.Errorf("%w: %s refused us: %s", wire.ErrAuth, c.nc.RemoteAddr(), msg)
		c.fail(err)
		return wire.Frame{}, err
	}
	f, st, err := wire.OpenWith(c.opener, f)
	if err == nil && c.opener != nil {
		if st.Seq <= c.lastSeq {
			err = fmt.Errorf("%w: %w", wire.ErrAuth, wire.ErrReplayed)
		}
		c.lastSeq = st.Seq
	}
	if err != nil {
		if c.refuse {
			msg := "this broker's cluster key does not match yours (or one side has none); set the same LOGSTREAM_CLUSTER_KEY or --cluster-key-file everywhere"
			c.shutdown(err, wire.Refusal(f.Corr, msg))
		} else {
			c.fail(err)
		}
		return wire.Frame{}, err
	}
	return f, nil
}

// Buffered is how many received bytes wait to be taken by Recv: a frame
// (or its start) that Recv returns without waiting for the network.
func (c *Conn) Buffered() int { return c.r.Buffered() }

// ErrInterrupted is RecvContext's answer when its context ended before any
// byte of the next frame arrived; the connection is as it was.
var ErrInterrupted = errors.New("framed: wait for the next frame interrupted")

// RecvContext is Recv under a read deadline, for a caller that must stop
// waiting when ctx ends: while no byte of the next frame has arrived, the
// end of ctx returns ErrInterrupted and leaves the connection as it was (a
// later Recv reads that frame whole). A frame that has begun is read whole,
// as by Recv; the deadline passing fails the connection, as in Recv. Only
// the goroutine that calls Recv may call it, never both at once.
func (c *Conn) RecvContext(ctx context.Context, deadline time.Time) (wire.Frame, error) {
	if ctx.Err() != nil {
		return wire.Frame{}, ErrInterrupted
	}
	c.nc.SetReadDeadline(deadline)
	if ctx.Done() == nil || c.r.Buffered() > 0 {
		return c.Recv()
	}
	var mu sync.Mutex
	waiting, interrupted := true, false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if waiting {
			interrupted = true
			c.nc.SetReadDeadline(time.Unix(1, 0)) // wakes the Wait below at once
		}
	})
	err := c.r.Wait()
	mu.Lock()
	waiting = false
	wasInterrupted := interrupted
	mu.Unlock()
	stop()
	if wasInterrupted {
		c.nc.SetReadDeadline(deadline)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return wire.Frame{}, ErrInterrupted
		}
	}
	if err != nil {
		c.fail(err)
		return wire.Frame{}, err
	}
	return c.Recv()
}

// Recycle hands back a body Recv returned that nothing refers to any more,
// for the next Recv to read into (wire.Reader.Recycle). Call it from the
// goroutine that calls Recv.
func (c *Conn) Recycle(body []byte) { c.r.Recycle(body) }

// ReuseBodies makes every later Recv return a body that is valid only until
// the next Recv (see wire.Reader.Reuse): for a reader done with each frame
// before it reads the next, such as a consumer, which then allocates nothing
// per frame. Call it from the goroutine that calls Recv.
func (c *Conn) ReuseBodies() { c.r.Reuse() }

// SetReadDeadline bounds the next Recv.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Close stops the writer, waits for it, and closes the socket.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	<-c.wdone
	return nil
}

// Done is closed once the connection is closing.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection closed (nil while open).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

func (c *Conn) closedErr() error {
	if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
		return errors.Join(ErrClosed, err)
	}
	return ErrClosed
}

func (c *Conn) fail(err error) { c.shutdown(err, nil) }

// shutdown ends the connection. With last, the socket is left to the writer,
// which sends last (bounded by refusalTimeout) and then closes it.
func (c *Conn) shutdown(err error, last []byte) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		c.last = last // published to the writer by close(done)
		close(c.done)
		if last == nil {
			c.nc.Close()
		}
	})
}

// refusalTimeout bounds the write of a refusal to a peer that may not read.
const refusalTimeout = time.Second

func (c *Conn) appendFrame(buf []byte, f wire.Frame) []byte {
	if c.sealer != nil {
		return c.sealer.AppendFrame(buf, f)
	}
	return wire.AppendFrame(buf, f)
}

func (c *Conn) writeLoop() {
	defer func() {
		// Every way out has closed done first, which publishes last. With
		// a refusal pending the socket is ours to close.
		if c.last != nil {
			c.nc.Close()
		}
		close(c.wdone)
	}()
	var buf []byte // allocated on first use: idle connections cost no buffer
	for {
		select {
		case <-c.done:
			// Closing: what is queued is dropped; a refusal goes out.
			if c.last != nil {
				c.wmu.Lock()
				c.nc.SetWriteDeadline(time.Now().Add(refusalTimeout))
				c.nc.Write(c.last)
				c.wmu.Unlock()
			}
			return
		case <-c.kick:
		}
		// Write until the queue is empty; frames leave it only under wmu.
		for {
			c.wmu.Lock()
			buf = append(buf[:0], c.rest...) // a non-blocking write's tail first
			c.rest = nil
		gather:
			for len(buf) < coalesce {
				select {
				case f := <-c.out:
					buf = c.appendFrame(buf, f)
				default:
					break gather
				}
			}
			closing := false
			select {
			case <-c.done:
				closing = true // what is queued is dropped
			default:
			}
			if len(buf) == 0 || closing {
				c.wmu.Unlock()
				break
			}
			err := c.write(buf)
			c.wmu.Unlock()
			if err != nil {
				c.fail(err)
				return
			}
			if cap(buf) > 4*coalesce {
				buf = nil // do not keep one huge frame's buffer forever
			}
		}
	}
}
