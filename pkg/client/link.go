package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"
)

// link is a running client's way to its brokers: the Options it was made
// from (defaulted, then only read) and the state that changes as it runs —
// the brokers it has heard of, the randomness that jitters its pauses and
// the pause itself (tests set their own). A Producer or Consumer owns one;
// its goroutines (the session, the reader, the heartbeat) share it, and
// only the book changes after newLink, under its own lock.
type link struct {
	o     Options
	topic string     // the topic the client works on ("" for none): watched while its broker is silent
	book  brokerBook // brokers heard of
	// last is the broker of the previous session, tried last when the
	// client reconnects; silent, one that fell silent (-hb-timeout), and
	// when (the loop's goroutine only).
	last     string
	silent   string
	silentAt time.Time
	// heard is when the current session's broker last sent a frame (Unix
	// nanoseconds; recv sets it, the owner watch reads it).
	heard atomic.Int64
	// rand jitters the pauses between attempts and pause waits them.
	rand  func() float64
	pause func(ctx context.Context, d time.Duration) bool
}

// newLink returns the link for o, with o's zero fields defaulted.
func newLink(o Options) *link {
	o.Defaults()
	return &link{o: o, rand: rand.Float64, pause: sleep}
}

// connectOnce returns a connection to a broker: the redirect target if there
// is one, else the explicit leader or whatever discovery finds, else any
// broker this client has heard of (so a client given --leader carries on
// when that broker dies). A live redirect target is taken before asking
// discovery: discovery listens a whole window for answers, which every move
// of a topic would otherwise add to the client's stall. No connection and no
// error means every candidate failed; *lastErr says why. A refusal that
// waiting cannot heal (see permanent) is a fatalError once no other broker
// takes us, or at once from the redirect target: only it serves the topic.
func (l *link) connectOnce(ctx context.Context, redirect string, lastErr *error) (*framed.Conn, string, error) {
	tried := map[string]bool{}
	var final error // the last refusal that waiting cannot heal
	try := func(timeout time.Duration, addrs ...string) (*framed.Conn, string, error) {
		for _, addr := range addrs {
			if tried[addr] {
				continue
			}
			tried[addr] = true
			conn, err := l.dial(ctx, addr, timeout)
			if err != nil {
				*lastErr = err
				if ctx.Err() != nil {
					return nil, "", ctx.Err()
				}
				continue
			}
			err = l.learnBrokers(ctx, conn)
			var r *refusal
			switch {
			case errors.Is(err, wire.ErrAuth):
				conn.Close()
				return nil, "", fatalError{err}
			case errors.As(err, &r): // try the next one
				conn.Close()
				*lastErr = fmt.Errorf("broker %s refused the connection: %w", addr, err)
				if permanent(r.code) {
					final = *lastErr
				}
				continue
			}
			l.book.add(addr)
			return conn, addr, nil
		}
		return nil, "", nil
	}
	if redirect != "" {
		if conn, addr, err := try(defaults.ClientDialTimeout, redirect); conn != nil || err != nil {
			return conn, addr, err
		}
		if final != nil {
			return nil, "", fatalError{final}
		}
	}
	known := l.reconnectOrder()
	if len(known) > 0 && l.o.Leader == "" {
		// Reconnecting: a broker we know answers (or redirects) in a round
		// trip, where discovery listens a whole window first. Each dial is
		// bounded: one that is cut off must not hold us long.
		if conn, a, err := try(defaults.ClientRedialTimeout, known...); conn != nil || err != nil {
			return conn, a, err
		}
	}
	var candidates []string
	if addr, err := l.locate(ctx, len(known) > 0); err == nil {
		candidates = append(candidates, addr)
	} else if errors.Is(err, wire.ErrAuth) {
		return nil, "", fatalError{err}
	} else {
		*lastErr = err
	}
	conn, addr, err := try(defaults.ClientDialTimeout, append(candidates, l.book.list()...)...)
	if conn == nil && err == nil && final != nil {
		return nil, "", fatalError{final}
	}
	return conn, addr, err
}

// reconnectOrder lists the brokers heard of, the previous session's next to
// last and one that fell silent lately last of all.
func (l *link) reconnectOrder() []string {
	known := l.book.list()
	back := func(addr string) {
		if i := slices.Index(known, addr); i >= 0 {
			known = append(append(known[:i:i], known[i+1:]...), addr)
		}
	}
	back(l.last)
	if l.silent != "" && time.Since(l.silentAt) < l.o.HBTimeout {
		back(l.silent)
	}
	return known
}

// health is what one session learned about its broker, set from the
// session's goroutines.
type health struct {
	answered atomic.Bool // the broker answered a heartbeat
	progress atomic.Bool // records were acknowledged or delivered
}

// sessionFunc runs one connection until it fails or ends, noting in h how
// the broker served it.
type sessionFunc func(ctx context.Context, conn *framed.Conn, h *health) error

// loop runs sessions until ctx ends (nil), a session returns ErrStop (nil),
// a refusal that retrying cannot fix, or ReconnectAttempts attempts in a row
// fail. An attempt fails when no broker can be reached, or when the session
// ends without progress, or ends with a refusal (a transient one such as a
// view change in progress, or a broker error). Every failed attempt is
// followed by a growing, jittered pause (see attempts). Redirects are
// followed at once, the first two in a row; after that, brokers disagree
// (for a moment, while a view changes) and the next ones are paced by the
// same back-off without counting as failures. reset (if not nil) runs after
// every session. resume says in the log what the next session will do.
func (l *link) loop(ctx context.Context, resume string, session sessionFunc, reset func()) error {
	tries := l.newAttempts()
	redirect, redirects := "", 0
	for {
		var lastErr error
		conn, addr, err := l.connectOnce(ctx, redirect, &lastErr)
		redirect = "" // a dead redirect target is forgotten: ask the cluster again
		switch {
		case ctx.Err() != nil:
			if conn != nil {
				conn.Close()
			}
			return nil
		case err != nil:
			return err
		case conn == nil:
			if err := tries.fail(ctx, lastErr, ""); err != nil {
				return ctxNil(ctx, err)
			}
			continue
		}
		var h health
		l.last = addr
		w := l.watchOwner(conn, addr)
		err = session(ctx, conn, &h)
		conn.Close()
		if to := w.stop(); to != "" && ctx.Err() == nil && !errors.Is(err, ErrStop) && !isFatal(err) {
			err = &redirectError{to: to}
		}
		if reset != nil {
			reset()
		}
		if ctx.Err() != nil || errors.Is(err, ErrStop) {
			return nil
		}
		if isFatal(err) {
			return err
		}
		if served(&h, err) {
			tries.reset()
		}
		var se *silentError
		if errors.As(err, &se) {
			l.silent, l.silentAt = addr, time.Now()
		}
		var rd *redirectError
		if errors.As(err, &rd) && l.silent != "" && sameBroker(rd.to, l.silent) && time.Since(l.silentAt) < l.o.HBTimeout {
			// The cluster still names the broker we just found silent: it
			// has not judged it yet (it will, and move the topic). Ask
			// again shortly rather than wait on a broker that does not
			// answer.
			if !l.pause(ctx, max(min(l.o.HBInterval/4, 100*time.Millisecond), 10*time.Millisecond)) {
				return nil
			}
			continue
		}
		if errors.As(err, &rd) {
			l.o.Logger.Info().Str("from", addr).Str("to", rd.to).Msg("topic lives on another broker; following the redirect")
			redirect = rd.to
			if redirects++; redirects > 2 && !l.pause(ctx, tries.back.next()) {
				return nil
			}
			continue
		}
		redirects = 0
		var rt *retryError
		if errors.As(err, &rt) {
			redirect = addr // the broker is there: ask it again first
		} else {
			l.o.Logger.Warn().Err(err).Str("broker", addr).Msg("connection lost; reconnecting and " + resume)
			if served(&h, err) && connLost(err) {
				// The broker served us until the connection went: reconnect
				// at once (to another broker first); only a failed attempt
				// waits. (Any other error — our own handler's — waits as
				// before.)
				continue
			}
		}
		if err := tries.fail(ctx, err, addr); err != nil {
			return ctxNil(ctx, err)
		}
	}
}

// served says whether a session that ended with err counts as the broker
// serving us, which starts a new episode of attempts: it made progress, or
// it was answered and then lost without a refusal (an idle client whose
// connection drops now and then must not use up its attempts over a week).
func served(h *health, err error) bool {
	if h.progress.Load() {
		return true
	}
	var rt *retryError
	var be brokerError
	return h.answered.Load() && !errors.As(err, &rt) && !errors.As(err, &be)
}

// ctxNil is nil when ctx has ended (the caller asked us to stop), else err.
func ctxNil(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// learnBrokers asks a freshly connected broker for the cluster's members, so
// the client knows where else to go if this broker dies. Its one error that
// matters is a refusal for our key (wire.ErrAuth): the first request on a
// connection is where a key mismatch shows.
func (l *link) learnBrokers(ctx context.Context, conn *framed.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	md, err := metadataOn(ctx, conn)
	if err != nil {
		return err
	}
	for _, b := range md.Brokers {
		l.book.add(b.Addr)
	}
	l.book.add(md.LeaderAddr)
	return nil
}

// brokerBook is the set of broker addresses a client has heard of.
type brokerBook struct {
	mu    sync.Mutex
	addrs []string
}

const maxBook = 64

func (b *brokerBook) add(addr string) {
	if addr == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.Contains(b.addrs, addr) {
		return
	}
	if len(b.addrs) >= maxBook {
		b.addrs = b.addrs[1:]
	}
	b.addrs = append(b.addrs, addr)
}

func (b *brokerBook) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.addrs)
}

// noteHeartbeat learns the leader's address from a broker's HEARTBEAT.
func (l *link) noteHeartbeat(f wire.Frame) {
	var hb wire.Heartbeat
	if hb.Unmarshal(f.Body) == nil {
		l.book.add(hb.LeaderAddr)
	}
}

// locate finds a broker: the -leader address, or discovery. reconnecting
// says the client knows brokers and just found none of them serving: then
// one broadcast round is enough, not discovery's whole schedule, since the
// attempt loop tries again (the known brokers first) after its short pause.
// A cluster restarting as a whole is then found within a pause of serving
// again, not at the end of a schedule begun while it was down (chaos: the
// producers came back 3.2 s after the restarted cluster served).
func (l *link) locate(ctx context.Context, reconnecting bool) (string, error) {
	if l.o.Leader != "" {
		return l.o.Leader, nil
	}
	if l.o.Discover != nil {
		return l.o.Discover(ctx)
	}
	res, err := discovery.Discover(ctx, l.discoveryConfig(reconnecting))
	if err != nil {
		return "", err
	}
	return res.LeaderAddr, nil
}

func (l *link) discoveryConfig(reconnecting bool) discovery.Config {
	cfg := discovery.Config{
		Role: l.o.Role, NodeID: l.o.ClientID, Port: l.o.BroadcastPort,
		Logger: l.o.Logger, Key: l.o.Key,
	}
	if reconnecting {
		cfg.Attempts = 1
	}
	return cfg
}

func (l *link) dial(ctx context.Context, addr string, timeout time.Duration) (*framed.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	if l.o.LocalPort != 0 {
		d.LocalAddr = &net.TCPAddr{Port: int(l.o.LocalPort)}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if l.o.LocalPort != 0 && localPortBusy(err) {
		nc, err = l.dialWhenPortFree(ctx, &d, addr)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	l.o.Logger.Info().Str("broker", addr).Msg("connected")
	return framed.NewWith(nc, framed.Options{MaxBody: l.o.MaxFrame, Queue: 256, WriteTimeout: 30 * time.Second, Key: l.o.Key}), nil
}

// localPortTimeWait bounds the wait for a fixed local port: the kernel keeps
// a closed connection's port in TIME_WAIT for 60 s on Linux.
const localPortTimeWait = 75 * time.Second

// localPortBusy reports a dial that failed only because our fixed local
// port (-local-port) is still held by the connection we just closed.
func localPortBusy(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// dialWhenPortFree retries a dial from a fixed local port until the port is
// free (TIME_WAIT of the previous connection) or localPortTimeWait passes.
// These waits are not failed attempts: with -local-port every reconnect
// after we closed a connection would otherwise spend the attempts in a row
// on a port that frees itself within a minute.
func (l *link) dialWhenPortFree(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	l.o.Logger.Warn().Uint16("local_port", l.o.LocalPort).Msg("local port still held by the previous connection (TIME_WAIT); waiting for it")
	deadline := time.Now().Add(localPortTimeWait)
	for {
		if !l.pause(ctx, 500*time.Millisecond) {
			return nil, ctx.Err()
		}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if !localPortBusy(err) || time.Now().After(deadline) {
			return nc, err
		}
	}
}

// heartbeat sends HEARTBEAT every HBInterval until done closes, calling
// sent (if not nil) after each.
func (l *link) heartbeat(conn *framed.Conn, done <-chan struct{}, sent func()) {
	t := time.NewTicker(l.o.HBInterval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			seq++
			hb := wire.Heartbeat{NodeID: l.o.ClientID, Role: l.o.Role, Seq: seq, UnixNano: now.UnixNano(), LeaderAddr: l.o.Advertise}
			if conn.Send(wire.Encode(&hb, 0)) != nil {
				return
			}
			if sent != nil {
				sent()
			}
		}
	}
}

// recvContext reads the next frame, giving up when the broker is silent
// longer than HBTimeout (the broker answers every HEARTBEAT, so silence
// means trouble); the end of ctx stops a wait for a frame not yet begun
// (framed.ErrInterrupted, the connection as it was).
func (l *link) recvContext(ctx context.Context, conn *framed.Conn) (wire.Frame, error) {
	f, err := conn.RecvContext(ctx, time.Now().Add(l.o.HBTimeout))
	if err == nil {
		l.heard.Store(time.Now().UnixNano())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return f, &silentError{l.o.HBTimeout}
	}
	return f, err
}

// connLost says err is the connection's end (closed, reset, silent), not a
// refusal or an error of the client's own.
func connLost(err error) bool {
	var ne net.Error
	var se *silentError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) || errors.As(err, &se)
}

// silentError ends a session whose broker sent nothing for -hb-timeout.
type silentError struct{ d time.Duration }

func (e *silentError) Error() string { return fmt.Sprintf("broker silent for %s (hb-timeout)", e.d) }
