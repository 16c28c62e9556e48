// Package client is the producer and consumer side of LogStream: finding the
// cluster, keeping one long-lived connection to the right broker, and
// carrying on through reconnects without losing or repeating a record.
package client

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/wire"

	"github.com/logstream/logstream/pkg/defaults"
)

// Options configure how a client finds and keeps its broker.
type Options struct {
	ClientID      string
	Role          wire.Role
	Leader        string // explicit broker IP:PORT; empty means discover by broadcast
	BroadcastPort uint16
	LocalPort     uint16 // bind the outgoing connection to this port (NAT port forwarding)
	Advertise     string // address announced to the broker (NAT)

	HBInterval        time.Duration // how often we send HEARTBEAT
	HBTimeout         time.Duration // silence from the broker after which we reconnect
	ReconnectAttempts int
	ReconnectDelay    time.Duration
	MaxFrame          int
	// Key is the cluster key (LOGSTREAM_CLUSTER_KEY); nil talks to an open
	// cluster. A broker with another key refuses us: that is fatal, never
	// retried, and the error wraps wire.ErrAuth.
	Key *wire.Key

	Logger zerolog.Logger
	// Discover finds a broker address; nil means UDP broadcast discovery.
	Discover func(ctx context.Context) (string, error)

	book *brokerBook // brokers heard of; made by Defaults
	// rand jitters the pauses between attempts and pause waits them;
	// Defaults sets math/rand and a timer, tests set their own.
	rand  func() float64
	pause func(ctx context.Context, d time.Duration) bool
}

// Defaults fills the zero fields with the manual's defaults.
func (o *Options) Defaults() {
	if o.BroadcastPort == 0 {
		o.BroadcastPort = defaults.DiscoveryPort
	}
	if o.HBInterval <= 0 {
		o.HBInterval = defaults.ClientHB
	}
	if o.HBTimeout <= 0 {
		o.HBTimeout = defaults.ClientHBTimeout
	}
	if o.ReconnectAttempts <= 0 {
		o.ReconnectAttempts = defaults.ReconnectAttempts
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = defaults.ReconnectDelay
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.DefaultMaxFrame
	}
	if o.book == nil {
		o.book = &brokerBook{}
	}
	if o.rand == nil {
		o.rand = rand.Float64
	}
	if o.pause == nil {
		o.pause = sleep
	}
}

// redirectError says the broker we talk to is not the one for our topic.
type redirectError struct{ to string }

func (e *redirectError) Error() string { return "redirected to " + e.to }

// retryError is a transient refusal (no quorum, recovery in progress).
type retryError struct{ msg string }

func (e *retryError) Error() string { return e.msg }

// brokerError is any other error a broker answered with (an internal error,
// an unknown topic): the broker is there but refuses us, so retrying it at
// once would only hear the same answer.
type brokerError struct{ error }

// connectOnce returns a connection to a broker: the redirect target if there
// is one, else the explicit leader or whatever discovery finds, else any
// broker this client has heard of (so a client given --leader carries on
// when that broker dies). A live redirect target is taken before asking
// discovery: discovery listens a whole window for answers, which every move
// of a topic would otherwise add to the client's stall. No connection and no
// error means every candidate failed; *lastErr says why. A refusal that
// waiting cannot heal (see permanent) is a fatalError once no other broker
// takes us, or at once from the redirect target: only it serves the topic.
func (o *Options) connectOnce(ctx context.Context, redirect string, lastErr *error) (*framed.Conn, string, error) {
	tried := map[string]bool{}
	var final error // the last refusal that waiting cannot heal
	try := func(addrs ...string) (*framed.Conn, string, error) {
		for _, addr := range addrs {
			if tried[addr] {
				continue
			}
			tried[addr] = true
			conn, err := o.dial(ctx, addr)
			if err != nil {
				*lastErr = err
				if ctx.Err() != nil {
					return nil, "", ctx.Err()
				}
				continue
			}
			err = o.learnBrokers(ctx, conn)
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
			o.book.add(addr)
			return conn, addr, nil
		}
		return nil, "", nil
	}
	if redirect != "" {
		if conn, addr, err := try(redirect); conn != nil || err != nil {
			return conn, addr, err
		}
		if final != nil {
			return nil, "", fatalError{final}
		}
	}
	var candidates []string
	if addr, err := o.locate(ctx); err == nil {
		candidates = append(candidates, addr)
	} else if errors.Is(err, wire.ErrAuth) {
		return nil, "", fatalError{err}
	} else {
		*lastErr = err
	}
	conn, addr, err := try(append(candidates, o.book.list()...)...)
	if conn == nil && err == nil && final != nil {
		return nil, "", fatalError{final}
	}
	return conn, addr, err
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
func (o *Options) loop(ctx context.Context, resume string, session sessionFunc, reset func()) error {
	tries := o.newAttempts()
	redirect, redirects := "", 0
	for {
		var lastErr error
		conn, addr, err := o.connectOnce(ctx, redirect, &lastErr)
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
		err = session(ctx, conn, &h)
		conn.Close()
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
		var rd *redirectError
		if errors.As(err, &rd) {
			o.Logger.Info().Str("from", addr).Str("to", rd.to).Msg("topic lives on another broker; following the redirect")
			redirect = rd.to
			if redirects++; redirects > 2 && !o.pause(ctx, tries.back.next()) {
				return nil
			}
			continue
		}
		redirects = 0
		var rt *retryError
		if errors.As(err, &rt) {
			redirect = addr // the broker is there: ask it again first
		} else {
			o.Logger.Warn().Err(err).Str("broker", addr).Msg("connection lost; reconnecting and " + resume)
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
func (o *Options) learnBrokers(ctx context.Context, conn *framed.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	md, err := metadataOn(ctx, conn)
	if err != nil {
		return err
	}
	for _, b := range md.Brokers {
		o.book.add(b.Addr)
	}
	o.book.add(md.LeaderAddr)
	return nil
}

// brokerBook is the set of broker addresses a client has heard of.
type brokerBook struct {
	mu    sync.Mutex
	addrs []string
}

const maxBook = 64

func (b *brokerBook) add(addr string) {
	if b == nil || addr == "" {
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
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.addrs)
}

// noteHeartbeat learns the leader's address from a broker's HEARTBEAT.
func (o *Options) noteHeartbeat(f wire.Frame) {
	var hb wire.Heartbeat
	if hb.Unmarshal(f.Body) == nil {
		o.book.add(hb.LeaderAddr)
	}
}

func (o *Options) locate(ctx context.Context) (string, error) {
	if o.Leader != "" {
		return o.Leader, nil
	}
	if o.Discover != nil {
		return o.Discover(ctx)
	}
	res, err := discovery.Discover(ctx, discovery.Config{
		Role: o.Role, NodeID: o.ClientID, Port: o.BroadcastPort,
		Logger: o.Logger, Key: o.Key,
	})
	if err != nil {
		return "", err
	}
	return res.LeaderAddr, nil
}

func (o *Options) dial(ctx context.Context, addr string) (*framed.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}
	if o.LocalPort != 0 {
		d.LocalAddr = &net.TCPAddr{Port: int(o.LocalPort)}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if o.LocalPort != 0 && localPortBusy(err) {
		nc, err = o.dialWhenPortFree(ctx, &d, addr)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	o.Logger.Info().Str("broker", addr).Msg("connected")
	return framed.NewWith(nc, framed.Options{MaxBody: o.MaxFrame, Queue: 256, WriteTimeout: 30 * time.Second, Key: o.Key}), nil
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
func (o *Options) dialWhenPortFree(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	o.Logger.Warn().Uint16("local_port", o.LocalPort).Msg("local port still held by the previous connection (TIME_WAIT); waiting for it")
	deadline := time.Now().Add(localPortTimeWait)
	for {
		if !o.pause(ctx, 500*time.Millisecond) {
			return nil, ctx.Err()
		}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if !localPortBusy(err) || time.Now().After(deadline) {
			return nc, err
		}
	}
}

// heartbeat sends HEARTBEAT every HBInterval until done closes.
func (o *Options) heartbeat(conn *framed.Conn, done <-chan struct{}) {
	t := time.NewTicker(o.HBInterval)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			seq++
			hb := wire.Heartbeat{NodeID: o.ClientID, Role: o.Role, Seq: seq, UnixNano: now.UnixNano(), LeaderAddr: o.Advertise}
			if conn.Send(wire.Encode(&hb, 0)) != nil {
				return
			}
		}
	}
}

// recv reads the next frame, giving up when the broker is silent longer than
// HBTimeout (the broker answers every HEARTBEAT, so silence means trouble).
func (o *Options) recv(conn *framed.Conn) (wire.Frame, error) {
	conn.SetReadDeadline(time.Now().Add(o.HBTimeout))
	f, err := conn.Recv()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return f, fmt.Errorf("broker silent for %s (hb-timeout)", o.HBTimeout)
	}
	return f, err
}

// NewClientID returns name plus a random suffix, unique per process run, so
// a restarted producer never collides with its previous sequence numbers.
func NewClientID(name string) string {
	if name == "" {
		name = "client"
	}
	return name + "-" + strings.ToLower(crand.Text()[:8])
}

// ParseAddr checks an IP:PORT given by the user.
func ParseAddr(flag, s string) error {
	if _, err := netip.ParseAddrPort(s); err != nil {
		return fmt.Errorf("invalid value %q for %s: want IP:PORT such as 192.168.1.10:8001", s, flag)
	}
	return nil
}
