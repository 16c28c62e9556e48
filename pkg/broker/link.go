package broker

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"
)

// linkQueue bounds the frames waiting for one peer, and
// defaults.LinkQueueBytes their bodies' bytes. The protocol survives loss
// (gaps are fetched, timeouts retry), so a full queue drops rather than
// stalling the cluster loop.
const linkQueue = 8192

// linkConnQueue is the frames the link's connection queues while its
// writer is busy, behind the link's own queue: few, so what waits is
// bounded by the link's bytes, not by frames of up to
// defaults.ReplicateBatchBytes each.
const linkConnQueue = 16

// linkStaleAfter is how long a frame may have waited in the queue of a link
// that was down before it is dropped instead of sent once the link is back.
// Such a frame was sent into an outage the node has been told of
// (Unreachable), and the protocol has moved on: delivered late, a
// STATE_EXCHANGE its proposer abandoned seconds ago took a member's promise
// in the middle of an election (chaos seed 5: 2.5 s old; no one won the
// round until the dead leader came back). Dropping is what a lost datagram
// does, which the protocol survives; frames of a link that stays up are
// never dropped for their age.
const linkStaleAfter = time.Second

// link is our outbound TCP connection to one peer broker. Its run goroutine
// owns the connection: it dials, sends what is queued, and redials after a
// failure, telling the node at once when the peer cannot be reached.
type link struct {
	r    *clusterRepl
	id   cluster.NodeID
	addr string
	q    chan queuedFrame
	quit chan struct{}
	// queued is the body bytes in q: raised by enqueue (the loop),
	// lowered by pump once a frame is taken.
	queued atomic.Int64
	// behind counts the frames enqueued and not yet handed to the
	// connection (in q, in next, or being sent by pump): raised by
	// enqueue, lowered once conn.Send returns or the frame is dropped.
	behind atomic.Int64
	// next is a frame taken from q to be sent before the rest (by
	// dropStale, which had to take it to read its age). Run's goroutine
	// only.
	next *queuedFrame
	// up is the connection while pump runs on it. With nothing behind,
	// enqueue hands a frame to it directly (TrySend: written at once on
	// an idle connection), instead of waking run's goroutine to do so —
	// a hand-off on every REPLICATE and every acknowledgement's path.
	up atomic.Pointer[framed.Conn]
}

// queuedFrame is a frame waiting in a link's queue, and since when.
type queuedFrame struct {
	f  wire.Frame
	at time.Time
}

func newLink(r *clusterRepl, id cluster.NodeID, addr string) *link {
	return &link{r: r, id: id, addr: addr, q: make(chan queuedFrame, linkQueue), quit: make(chan struct{})}
}

// outFrame is a frame to send to one or more members whose body is the
// encoding buffer of the cluster loop, reused for the next message (a
// REPLICATE's 190 KB body, allocated and zeroed per batch, was a tenth of
// the owner's CPU). A link that writes it at once needs no copy; one that
// must keep it takes a copy, made once for every member that needs one.
type outFrame struct {
	f      wire.Frame
	copied bool // f.Body is a copy of its own
}

// kept returns the frame with a body of its own.
func (o *outFrame) kept() wire.Frame {
	if !o.copied {
		o.f.Body, o.copied = bytes.Clone(o.f.Body), true
	}
	return o.f
}

// trySend hands the frame to c without blocking (framed.Conn.TrySend);
// c copies the body only if it must queue a body that is still borrowed.
func (o *outFrame) trySend(c *framed.Conn) bool {
	if o.copied {
		return c.TrySend(o.f)
	}
	return c.TrySendBorrowed(o.f)
}

// enqueue is called under the cluster's mu only; it never blocks.
func (l *link) enqueue(o *outFrame) {
	f := o.f
	// Everything enqueued before is with the connection (behind is
	// lowered only after that), so a frame handed to it now keeps its
	// place; the connection keeps its senders' order.
	if c := l.up.Load(); c != nil && l.behind.Load() == 0 {
		select {
		case <-c.Done(): // failing: the frame waits for the next connection
		default:
			if o.trySend(c) {
				return
			}
		}
	}
	if l.queued.Load()+int64(len(f.Body)) > defaults.LinkQueueBytes {
		l.r.log.Debug().Str("peer", cluster.Display(l.id, "", l.addr)).Msg("link queue full (bytes); message dropped")
		return
	}
	// Checked before the body is copied. Only enqueue adds to q (under
	// mu), so room seen here is still there for the send below.
	if len(l.q) == cap(l.q) {
		l.r.log.Debug().Str("peer", cluster.Display(l.id, "", l.addr)).Msg("link queue full; message dropped")
		return
	}
	l.q <- queuedFrame{f: o.kept(), at: time.Now()}
	l.queued.Add(int64(len(f.Body)))
	l.behind.Add(1)
}

// stop is called by the loop only.
func (l *link) stop() { close(l.quit) }

func (l *link) run() {
	backoff := 50 * time.Millisecond
	fresh := true // no connection has failed since the last one was made
	for {
		nc, err := l.dial()
		if err != nil {
			fresh = false
			l.unreachable(err)
			select {
			case <-l.quit:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if !fresh {
			l.dropStale(time.Now())
		}
		fresh = true
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		conn := framed.NewWith(nc, framed.Options{MaxBody: l.r.b.cfg.MaxFrame, Queue: linkConnQueue,
			WriteTimeout: 5 * time.Second, Key: l.r.b.cfg.Key})
		// The peer answers over its own link to us; reading here only
		// notices the connection closing (the peer died or restarted).
		go func() {
			for {
				if _, err := conn.Recv(); err != nil {
					if errors.Is(err, wire.ErrAuth) {
						l.r.b.counters.authFailures.Add(1)
						l.r.b.rlog.warn("auth").Err(err).Str("peer", l.addr).Msg("peer broker refused our link: the cluster key does not match")
					}
					return
				}
			}
		}()
		if l.pump(conn) {
			conn.Close()
			return
		}
		conn.Close()
		fresh = false
		l.unreachable(conn.Err())
	}
}

// dial connects to the peer. The connection gives up on bytes the peer has
// not acknowledged for FAILURE_TIMEOUT (TCP_USER_TIMEOUT) instead of
// retransmitting them for TCP's own minutes: across a cut, its doubling
// retransmission timer held a member's frames for up to 8 s after the link
// healed (chaos seed 1: a BROKER_JOIN to the new leader, the member out of
// the view meanwhile, 17 s without a view of five). By FAILURE_TIMEOUT the
// protocol has judged the peer anyway; the link then redials, and a fresh
// connection carries frames as soon as the network does.
func (l *link) dial() (net.Conn, error) {
	ms := int(l.r.b.cfg.FailureTimeout.Milliseconds())
	d := net.Dialer{Timeout: time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
		}); err != nil {
			return err
		}
		return serr
	}}
	return d.Dial("tcp", l.addr)
}

// dropStale drops, from the front of the queue, the frames that waited
// longer than linkStaleAfter while the link was down. The queue is in
// order, so it stops at the first younger one.
func (l *link) dropStale(now time.Time) {
	dropped := 0
	if qf := l.next; qf != nil {
		if now.Sub(qf.at) < linkStaleAfter {
			return // what follows it is younger still
		}
		l.next = nil
		l.queued.Add(-int64(len(qf.f.Body)))
		l.behind.Add(-1)
		dropped++
	}
	for {
		select {
		case qf := <-l.q:
			if now.Sub(qf.at) < linkStaleAfter {
				l.next = &qf
				l.logDropped(dropped)
				return
			}
			l.queued.Add(-int64(len(qf.f.Body)))
			l.behind.Add(-1)
			dropped++
		default:
			l.logDropped(dropped)
			return
		}
	}
}

// pump sends queued frames until the connection fails (false) or the link
// is stopped (true).
func (l *link) pump(conn *framed.Conn) bool {
	l.up.Store(conn)
	defer l.up.Store(nil)
	if qf := l.next; qf != nil {
		l.next = nil
		if l.send(conn, *qf) != nil {
			return false
		}
	}
	for {
		select {
		case <-l.quit:
			return true
		case <-conn.Done():
			return false
		case qf := <-l.q:
			if l.send(conn, qf) != nil {
				return false
			}
		}
	}
}

// send sends one frame taken from the queue.
func (l *link) send(conn *framed.Conn, qf queuedFrame) error {
	l.queued.Add(-int64(len(qf.f.Body)))
	defer l.behind.Add(-1)
	return conn.Send(qf.f)
}

func (l *link) logDropped(n int) {
	if n > 0 {
		l.r.log.Debug().Int("frames", n).Str("peer", cluster.Display(l.id, "", l.addr)).
			Msg("link back up: frames queued while it was down dropped")
	}
}

func (l *link) unreachable(err error) {
	l.r.log.Debug().Err(err).Str("peer", cluster.Display(l.id, "", l.addr)).Msg("peer link down")
	l.r.doUnless(l.quit, func(now time.Time) { l.r.node.Unreachable(now, l.id) })
}
