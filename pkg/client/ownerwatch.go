package client

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/framed"
)

// ownerWatch runs beside a session. A broker that is paused or cut off
// sends nothing, and the client would only notice at -hb-timeout; but the
// cluster judges a silent owner failed sooner and moves its topics. So once
// the session's broker has been silent for ClientProbeAfter beats, the
// watch asks another broker every beat where the topic lives; when the
// cluster says it moved, the watch closes the connection and the loop
// follows the new owner at once. A broker that is only slow is never left:
// the watch acts only on the cluster's word that the topic moved.
type ownerWatch struct {
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	moved string
}

// watchOwner starts the watch of conn, a session with the broker at addr;
// nil (a no-op) when the client has no topic, or the beats leave no time
// before -hb-timeout.
func (l *link) watchOwner(conn *framed.Conn, addr string) *ownerWatch {
	every := l.o.HBInterval
	quiet := defaults.ClientProbeAfter * every
	l.heard.Store(time.Now().UnixNano())
	if l.topic == "" || every <= 0 || quiet >= l.o.HBTimeout {
		return nil
	}
	w := &ownerWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(max(every/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case now := <-t.C:
				if now.Sub(time.Unix(0, l.heard.Load())) < quiet {
					continue
				}
				if to := l.probeOwner(addr, every); to != "" {
					l.o.Logger.Warn().Str("broker", addr).Str("topic", l.topic).Str("owner", to).
						Dur("silent_for", now.Sub(time.Unix(0, l.heard.Load()))).
						Msg("broker silent and the cluster moved the topic: following it")
					w.mu.Lock()
					w.moved = to
					w.mu.Unlock()
					conn.Close()
					return
				}
			}
		}
	}()
	return w
}

// stop ends the watch and returns the new owner it found ("" if none).
func (w *ownerWatch) stop() string {
	if w == nil {
		return ""
	}
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.moved
}

// probeOwner asks the brokers heard of, other than addr, where the topic
// lives; the first that answers decides. It returns the owner's address if
// it is not addr.
func (l *link) probeOwner(addr string, budget time.Duration) string {
	for _, b := range l.book.list() {
		if sameBroker(b, addr) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), budget/2)
		md, err := MetadataKeyed(ctx, b, l.o.MaxFrame, l.o.Key)
		cancel()
		if err != nil {
			continue
		}
		for _, t := range md.Topics {
			if t.Name == l.topic && t.OwnerAddr != "" && !sameBroker(t.OwnerAddr, addr) {
				return t.OwnerAddr
			}
		}
		return ""
	}
	return ""
}

// sameBroker compares two broker addresses, as IP:PORT when both parse.
func sameBroker(a, b string) bool {
	pa, ea := netip.ParseAddrPort(a)
	pb, eb := netip.ParseAddrPort(b)
	if ea == nil && eb == nil {
		return pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port()
	}
	return a == b
}
