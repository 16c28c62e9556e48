package wire

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const writeBufSize = 64 << 10

// Conn is a framed TCP connection. Send may be called from many goroutines;
// Recv from one goroutine at a time.
//
// Send batches: frames go into a buffer under a mutex, and the buffer is
// flushed by whichever sender finds nobody else queued behind it. A burst of
// concurrent sends thus costs one write system call, and a lone send is
// flushed at once — no frame waits for a timer.
type Conn struct {
	nc  net.Conn
	rd  *Reader
	max int

	queued atomic.Int64 // senders waiting for or holding mu

	mu       sync.Mutex
	bw       *bufio.Writer
	hdr      [HeaderSize]byte
	werr     error // sticky: after a failed write the stream is unusable
	wtimeout time.Duration
}

// NewConn wraps nc. maxBody (<= 0 means DefaultMaxFrame) bounds both the
// frames Recv accepts and the frames Send agrees to write.
func NewConn(nc net.Conn, maxBody int) *Conn {
	return &Conn{
		nc:  nc,
		rd:  NewReader(nc, maxBody),
		max: limit(maxBody),
		bw:  bufio.NewWriterSize(nc, writeBufSize),
	}
}

// SetWriteTimeout bounds each Send (0, the default, means no deadline), so a
// peer that stops reading fails the senders instead of blocking them forever.
func (c *Conn) SetWriteTimeout(d time.Duration) {
	c.mu.Lock()
	c.wtimeout = d
	c.mu.Unlock()
}

// Send writes f and returns once it has been handed to the kernel or to a
// sender that will flush it. A body over the limit is refused with
// ErrTooLarge and the connection stays usable; any write error is final and
// returned to every later Send.
func (c *Conn) Send(f Frame) error {
	if len(f.Body) > c.max {
		return fmt.Errorf("wire: send %v %w: body of %d bytes exceeds limit of %d", f.Type, ErrTooLarge, len(f.Body), c.max)
	}
	c.queued.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	behind := c.queued.Add(-1)
	if c.werr != nil {
		return c.werr
	}
	if c.wtimeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.wtimeout)); err != nil {
			return c.failWrite(err)
		}
	}
	putHeader(c.hdr[:], f)
	if _, err := c.bw.Write(c.hdr[:]); err != nil {
		return c.failWrite(err)
	}
	if _, err := c.bw.Write(f.Body); err != nil {
		return c.failWrite(err)
	}
	// Someone queued behind us will write after us and flush; leaving the
	// flush to the last one is what batches a burst.
	if behind == 0 {
		if err := c.bw.Flush(); err != nil {
			return c.failWrite(err)
		}
	}
	return nil
}

// SendMessage encodes m with correlation id corr and sends it.
func (c *Conn) SendMessage(m Message, corr uint64) error {
	return c.Send(Encode(m, corr))
}

func (c *Conn) failWrite(err error) error {
	c.werr = fmt.Errorf("wire: write: %w", err)
	return c.werr
}

// Recv returns the next frame (see Reader.Next: the body is the caller's, and
// a framing error means the connection must be closed).
func (c *Conn) Recv() (Frame, error) { return c.rd.Next() }

// NetConn returns the underlying connection, e.g. for read deadlines.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection, unblocking Send and Recv.
func (c *Conn) Close() error { return c.nc.Close() }
