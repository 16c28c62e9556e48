package broker

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

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

// link is our outbound TCP connection to one peer broker. Its run goroutine
// owns the connection: it dials, sends what is queued, and redials after a
// failure, telling the node at once when the peer cannot be reached.
type link struct {
	r    *clusterRepl
	id   cluster.NodeID
	addr string
	q    chan wire.Frame
	quit chan struct{}
	// queued is the body bytes in q: raised by enqueue (the loop),
	// lowered by pump once a frame is taken.
	queued atomic.Int64
}

func newLink(r *clusterRepl, id cluster.NodeID, addr string) *link {
	return &link{r: r, id: id, addr: addr, q: make(chan wire.Frame, linkQueue), quit: make(chan struct{})}
}

// enqueue is called by the loop only; it never blocks.
func (l *link) enqueue(f wire.Frame) {
	if l.queued.Load()+int64(len(f.Body)) > defaults.LinkQueueBytes {
		l.r.log.Debug().Str("peer", cluster.Display(l.id, "", l.addr)).Msg("link queue full (bytes); message dropped")
		return
	}
	select {
	case l.q <- f:
		l.queued.Add(int64(len(f.Body)))
	default:
		l.r.log.Debug().Str("peer", cluster.Display(l.id, "", l.addr)).Msg("link queue full; message dropped")
	}
}

// stop is called by the loop only.
func (l *link) stop() { close(l.quit) }

func (l *link) run() {
	backoff := 50 * time.Millisecond
	for {
		nc, err := net.DialTimeout("tcp", l.addr, time.Second)
		if err != nil {
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
		l.unreachable(conn.Err())
	}
}

// pump sends queued frames until the connection fails (false) or the link
// is stopped (true).
func (l *link) pump(conn *framed.Conn) bool {
	for {
		select {
		case <-l.quit:
			return true
		case <-conn.Done():
			return false
		case f := <-l.q:
			l.queued.Add(-int64(len(f.Body)))
			if conn.Send(f) != nil {
				return false
			}
		}
	}
}

func (l *link) unreachable(err error) {
	l.r.log.Debug().Err(err).Str("peer", cluster.Display(l.id, "", l.addr)).Msg("peer link down")
	l.r.doUnless(l.quit, func(now time.Time) { l.r.node.Unreachable(now, l.id) })
}
