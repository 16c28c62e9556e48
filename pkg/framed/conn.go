// Package framed runs a long-lived TCP connection that carries wire frames
// both ways: one reader (the caller of Recv) and any number of senders.
//
// Sends go through a bounded queue drained by one writer goroutine, which
// coalesces whatever is queued into one write, so pipelined requests and
// responses cost few system calls. A full queue blocks the sender: that is the
// back-pressure a slow peer exerts, and the queue bound is what keeps a slow
// peer from growing our memory.
package framed

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/wire"
)

// ErrClosed is returned by Send after Close or a write failure.
var ErrClosed = errors.New("connection closed")

// coalesce bounds how many bytes the writer gathers before one write.
const coalesce = 256 << 10

// Conn is a framed connection. The writer goroutine is started by New and
// stopped by Close (or by a write error); Close also unblocks Recv.
type Conn struct {
	nc      net.Conn
	r       *wire.Reader
	out     chan wire.Frame
	done    chan struct{}
	once    sync.Once
	wdone   chan struct{}
	timeout time.Duration
	mu      sync.Mutex
	err     error
}

// New wraps nc. maxBody bounds received frames; queue bounds frames waiting
// to be written; writeTimeout bounds one write (a peer that stops reading is
// cut off rather than holding our memory forever).
func New(nc net.Conn, maxBody, queue int, writeTimeout time.Duration) *Conn {
	c := &Conn{
		nc:      nc,
		r:       wire.NewReader(nc, maxBody),
		out:     make(chan wire.Frame, queue),
		done:    make(chan struct{}),
		wdone:   make(chan struct{}),
		timeout: writeTimeout,
	}
	go c.writeLoop()
	return c
}

// Send queues f for writing, blocking while the queue is full. f.Body must not
// be modified afterwards.
func (c *Conn) Send(f wire.Frame) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	select {
	case c.out <- f:
		return nil
	case <-c.done:
		return c.closedErr()
	}
}

// TrySend queues f if there is room and reports whether it did. Callers that
// must never block (the cluster loop answering many clients) use it and treat
// a full queue as a client too slow to keep.
func (c *Conn) TrySend(f wire.Frame) bool {
	select {
	case c.out <- f:
		return true
	default:
		return false
	}
}

// Recv returns the next frame. Only one goroutine may call it.
func (c *Conn) Recv() (wire.Frame, error) {
	f, err := c.r.Next()
	if err != nil {
		c.fail(err)
	}
	return f, err
}

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

func (c *Conn) fail(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.nc.Close()
	})
}

func (c *Conn) writeLoop() {
	defer close(c.wdone)
	buf := make([]byte, 0, 64<<10)
	for {
		var f wire.Frame
		select {
		case f = <-c.out:
		case <-c.done:
			return
		}
		buf = wire.AppendFrame(buf[:0], f)
	gather:
		for len(buf) < coalesce {
			select {
			case f = <-c.out:
				buf = wire.AppendFrame(buf, f)
			default:
				break gather
			}
		}
		if c.timeout > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
		}
		if _, err := c.nc.Write(buf); err != nil {
			c.fail(err)
			return
		}
		if cap(buf) > 4*coalesce {
			buf = make([]byte, 0, 64<<10) // do not keep one huge frame's buffer forever
		}
	}
}
