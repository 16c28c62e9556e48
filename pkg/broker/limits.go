package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/wire"
)

// Bounds on what one connection or one address may hold. Hitting one is
// counted (counters), logged at most once per logEvery per kind (rateLog),
// and answered by refusing (connections) or by not reading (records in
// flight), never by growing.

// logEvery is how often one kind of bound-hit or bad-input warning may be
// logged; the rest are only counted.
const logEvery = 10 * time.Second

// rateLog lets one warning per kind through per period and reports how many
// it held back, so a flood of bad input cannot flood the log. Safe for
// concurrent use.
type rateLog struct {
	log   zerolog.Logger
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]uint64
}

func newRateLog(log zerolog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: every, now: time.Now, last: map[string]time.Time{}, suppressed: map[string]uint64{}}
}

// warn returns an event to fill and send, or nil (zerolog's no-op event)
// when kind was logged less than a period ago.
func (r *rateLog) warn(kind string) *zerolog.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	if last, ok := r.last[kind]; ok && t.Sub(last) < r.every {
		r.suppressed[kind]++
		return nil
	}
	r.last[kind] = t
	n := r.suppressed[kind]
	delete(r.suppressed, kind)
	return r.log.Warn().Str("limit", kind).Uint64("suppressed", n)
}

// connLimiter bounds connections in total and per remote IP.
type connLimiter struct {
	max, perIP int
	refusing   chan struct{} // slots for refusals being delivered (see refuse)

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

// maxRefusing bounds the refused connections whose answer is being
// delivered at once; beyond it a refused connection is closed unanswered.
const maxRefusing = 64

// refuseLinger bounds how long a refused connection is kept to deliver its
// answer.
const refuseLinger = time.Second

func newConnLimiter(max, perIP int) *connLimiter {
	return &connLimiter{max: max, perIP: perIP, byIP: map[netip.Addr]int{}, refusing: make(chan struct{}, maxRefusing)}
}

// acquire takes a slot for ip; it returns "" on success and the name of the
// bound that refused otherwise.
func (l *connLimiter) acquire(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.max:
		return "MAX_CONNECTIONS"
	case l.byIP[ip] >= l.perIP:
		return "MAX_CONNECTIONS_PER_IP"
	}
	l.total++
	l.byIP[ip]++
	return ""
}

// refusal is the answer to a connection over bound: the bound, its value
// and what to do, so a client can end with a line that says it (a limit
// reached does not heal by retrying at full speed).
func (l *connLimiter) refusal(bound string) string {
	n, what := l.max, "connections at once"
	if bound == "MAX_CONNECTIONS_PER_IP" {
		n, what = l.perIP, "connections at once from one IP address"
	}
	return fmt.Sprintf("connection refused: %s reached (%d %s); close some, or raise %s on the broker", bound, n, what, bound)
}

// refuse answers a connection over bound with one ERROR LIMIT frame naming
// the bound (frame is that frame, sealed when the cluster has a key), then
// closes it. The client may have sent its first request already; closing a
// socket with unread data resets it, and the reset can destroy our answer
// before the client reads it. So the answer is followed by a half-close and
// the socket is drained until the client closes it or refuseLinger passes,
// by a goroutine (at most maxRefusing at once, counted in wg).
func (l *connLimiter) refuse(nc net.Conn, frame []byte, wg *sync.WaitGroup) {
	select {
	case l.refusing <- struct{}{}:
	default:
		nc.Close() // a flood: no answers
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-l.refusing }()
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(refuseLinger))
		if _, err := nc.Write(frame); err != nil {
			return
		}
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	}()
}

// refusalFrame is the ERROR LIMIT telling a client that bound refused its
// connection. It answers no request (correlation 0) and is sealed with the
// cluster key, if any, so a client with the right key can read it.
func (b *Broker) refusalFrame(bound string) []byte {
	f := wire.Encode(&wire.Error{Code: wire.ErrLimit, Message: b.conns.refusal(bound)}, 0)
	if b.cfg.Key != nil {
		return b.cfg.Key.NewSealer(wire.RandomID()).AppendFrame(nil, f)
	}
	return wire.AppendFrame(nil, f)
}

func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func remoteIP(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{} // net.Pipe in tests: all share one slot key
}

// flightWindow bounds the records one connection has proposed and not yet
// had acknowledged. The connection's reader acquires before proposing and
// so stops reading while the window is full: TCP flow control then pushes
// back on the producer instead of the broker queueing its records.
type flightWindow struct {
	max    int
	onWait func() // tests: called when acquire is about to wait

	mu    sync.Mutex
	n     int
	freed chan struct{}
}

func newFlightWindow(max int) *flightWindow {
	return &flightWindow{max: max, freed: make(chan struct{})}
}

// acquire takes k slots, waiting while that would exceed the bound (a batch
// larger than the whole window gets it to itself). It reports whether it had
// to wait, and false for ok when ctx ended first.
func (w *flightWindow) acquire(ctx context.Context, k int) (waited, ok bool) {
	for {
		w.mu.Lock()
		if w.n == 0 || w.n+k <= w.max {
			w.n += k
			w.mu.Unlock()
			return waited, true
		}
		ch := w.freed
		w.mu.Unlock()
		waited = true
		if w.onWait != nil {
			w.onWait()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return waited, false
		}
	}
}

func (w *flightWindow) release(k int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n -= k
	close(w.freed)
	w.freed = make(chan struct{})
}

// floodGuard is a zerolog hook that lets each distinct message through at
// most burst times per period and discards the rest, counting them. It
// guards the log against protocol events a stranger can trigger at will
// (every forged COORDINATOR is an info line of the cluster state machine).
// Debug lines pass untouched: whoever enables them wants everything.
type floodGuard struct {
	burst   int
	period  time.Duration
	now     func() time.Time
	dropped *atomic.Uint64

	mu    sync.Mutex
	start time.Time
	seen  map[string]int
}

func newFloodGuard(burst int, period time.Duration, dropped *atomic.Uint64) *floodGuard {
	return &floodGuard{burst: burst, period: period, now: time.Now, dropped: dropped, seen: map[string]int{}}
}

// maxGuarded bounds the distinct messages remembered in one period.
const maxGuarded = 4096

func (g *floodGuard) Run(e *zerolog.Event, level zerolog.Level, msg string) {
	if level < zerolog.InfoLevel {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.now(); t.Sub(g.start) >= g.period || len(g.seen) >= maxGuarded {
		g.start = t
		clear(g.seen)
	}
	g.seen[msg]++
	if g.seen[msg] > g.burst {
		e.Discard()
		g.dropped.Add(1)
	}
}
