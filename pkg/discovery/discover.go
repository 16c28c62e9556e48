package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/netaddr"
	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"

	"github.com/logstream/logstream/pkg/defaults"
)

// Errors from Discover; each is wrapped with advice for the user.
var (
	// ErrNoCluster: nobody answered in any attempt. A starting broker takes
	// this as "I am the first" and becomes leader; a client gives up.
	ErrNoCluster = errors.New("no LogStream cluster answered")
	// ErrSplitBrain: the last attempt heard more than one leader.
	ErrSplitBrain = errors.New("more than one leader answered (split brain)")
	// ErrNoLeader: brokers answered but named no leader (election running).
	ErrNoLeader = errors.New("brokers answered but none knows a leader yet")
)

// Clock is the time Discover waits on; tests inject one they control.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config tunes Discover. Zero fields take the defaults noted.
//
// Discover takes at most Attempts×Listen + Delay(1)+…+Delay(Attempts-1)
// (ignoring send time). The client default is 5 × 500 ms + 1+1.5+2.25+3.375 s ≈ 10.6 s.
// A starting broker that must lead within 2 s of start when alone uses for
// example Attempts 2, Listen 600 ms, Backoff{Initial: 500 ms}: 1.7 s.
type Config struct {
	Role   wire.Role
	NodeID string // our id: answers from a responder with this id (ourselves) are ignored
	Addr   string // our advertised address, sent in JOIN (may be empty for clients)
	Port   uint16 // discovery port for the default targets (8888)
	// Targets receive every JOIN; empty means DefaultTargets of this host's
	// interfaces on Port.
	Targets []netip.AddrPort
	// Bind is the local IP the asking socket binds (zero: all addresses).
	// It also selects the multicast interface. Tests use 127.0.0.1.
	Bind     netip.Addr
	Attempts int           // 5
	Backoff  Backoff       // defaultBackoff
	Listen   time.Duration // how long each attempt collects answers (500 ms)
	Clock    Clock         // real time
	NewNonce func() uint64 // crypto/rand
	Logger   zerolog.Logger
	// Key seals our JOIN and admits only answers sealed with it; nil is an
	// open cluster. A broker that refuses our JOIN for its key makes
	// Discover fail with an error wrapping wire.ErrAuth once an attempt
	// brings no valid answer.
	Key *wire.Key

	// onAnswer, for tests, sees every accepted answer as the loop takes it.
	onAnswer func(answer)
}

// Result is the leader Discover found.
type Result struct {
	LeaderID   string
	LeaderAddr string // the leader's TCP address, "IP:PORT"
	View       uint64
	Brokers    []wire.BrokerInfo
	Responder  netip.AddrPort // who told us (the leader itself when it answered)
	// Peers, returned with ErrNoLeader, are the brokers that answered the
	// last attempt without naming a leader: a starting broker tells from
	// them whether a cluster is restarting (some remember a view) or fresh
	// brokers are starting beside it (none does; see Peer).
	Peers []Peer
}

// Peer is a broker that answered JOIN without naming a leader. View 0 means
// it has never been a member of a cluster (a fresh broker, starting too).
type Peer struct {
	ID   string
	View uint64
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = defaults.DiscoveryPort
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.Listen <= 0 {
		c.Listen = 500 * time.Millisecond
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.NewNonce == nil {
		c.NewNonce = randomNonce
	}
	return c
}

func randomNonce() uint64 { return wire.RandomID() }

// Discover broadcasts JOIN to every target, collects the JOIN_RESPONSEs that
// echo its nonce for cfg.Listen, and decides (see decide). On no answer, no
// leader or split brain it waits cfg.Backoff.Delay(attempt) and tries again,
// up to cfg.Attempts; then it returns ErrNoCluster, ErrNoLeader or
// ErrSplitBrain wrapped with advice. Cancelling ctx stops it at once.
func Discover(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger.With().Str("component", "discovery").Logger()
	targets := cfg.Targets
	if len(targets) == 0 {
		ifs, err := netaddr.Interfaces()
		if err != nil {
			return Result{}, err
		}
		targets = DefaultTargets(ifs, cfg.Port)
		if len(targets) == 0 {
			return Result{}, fmt.Errorf("%w: no up interface has an IPv4 broadcast address to send JOIN to; "+
				"run `logstream netdiag`, or give the leader with --leader IP:PORT", ErrNoCluster)
		}
	}
	conn, err := udpnet.NewSenderOn(netip.AddrPortFrom(cfg.Bind, 0), cfg.Bind)
	if err != nil {
		return Result{}, fmt.Errorf("discovery: opening UDP socket: %w", err)
	}
	// The reader goroutine stops when conn closes: on return, or on cancel.
	stop := udpnet.CloseOnDone(ctx, conn)
	nonce := cfg.NewNonce()
	answers := make(chan answer, 64)
	ks := newKeyState(cfg.Key)
	var wg sync.WaitGroup
	wg.Go(func() { readAnswers(conn, ks, nonce, cfg.NodeID, answers, log) })
	defer func() {
		stop()
		conn.Close()
		wg.Wait()
	}()

	everAnswered := false
	var last verdict
	var lastGot []answer
	for attempt := 1; attempt <= cfg.Attempts; attempt++ {
		// Sealed afresh per attempt: each datagram needs its own number.
		join := appendJoinKeyed(nil, wire.Join{Role: cfg.Role, NodeID: cfg.NodeID, Addr: cfg.Addr, Nonce: nonce}, ks)
		log.Info().Int("attempt", attempt).Int("attempts", cfg.Attempts).Str("targets", joinAddrs(targets)).
			Msgf("discovery attempt %d/%d: JOIN sent", attempt, cfg.Attempts)
		sent := 0
		for _, t := range targets {
			if err := udpnet.Send(conn, join, t, 0); err != nil {
				log.Warn().Err(err).Str("to", t.String()).Msg("JOIN send failed")
				continue
			}
			sent++
		}
		if sent == 0 {
			log.Warn().Msg("JOIN could not be sent to any target; check `logstream netdiag`")
		}
		got, refusal, err := collect(ctx, cfg, answers)
		if err != nil {
			return Result{}, err
		}
		if len(got) == 0 && refusal != nil {
			return Result{}, fmt.Errorf("%w: broker at %s refused our JOIN: %s", wire.ErrAuth, refusal.from, refusal.refused)
		}
		everAnswered = everAnswered || len(got) > 0
		last = decide(got)
		lastGot = got
		switch last.outcome {
		case outcomeFound:
			r := last.result
			log.Info().Str("leader", r.LeaderID).Str("leader_addr", r.LeaderAddr).Uint64("view", r.View).
				Str("responder", r.Responder.String()).Int("answers", len(got)).
				Msgf("discovery found leader %s at %s", r.LeaderID, r.LeaderAddr)
			return r, nil
		case outcomeSplitBrain:
			log.Warn().Strs("leaders", last.leaders).
				Msg("split brain: more than one leader answered JOIN; waiting for the election to resolve")
		case outcomeNoLeader:
			log.Info().Int("answers", len(got)).Msg("brokers answered JOIN but know no leader yet; waiting for the election")
		default:
			log.Info().Msgf("discovery attempt %d/%d: no JOIN_RESPONSE", attempt, cfg.Attempts)
		}
		if attempt == cfg.Attempts {
			break
		}
		d := cfg.Backoff.Delay(attempt)
		log.Debug().Dur("delay", d).Msg("discovery backing off")
		select {
		case <-cfg.Clock.After(d):
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	return Result{Peers: peersOf(lastGot)}, failure(cfg, targets, last, everAnswered)
}

// collect gathers answers until the listen window closes, keeping the
// newest answer per responder.
func collect(ctx context.Context, cfg Config, answers <-chan answer) ([]answer, *answer, error) {
	byResponder := map[string]int{}
	var got []answer
	var refusal *answer
	window := cfg.Clock.After(cfg.Listen)
	for {
		select {
		case a := <-answers:
			if a.refused != "" {
				refusal = &a
				continue
			}
			if cfg.onAnswer != nil {
				cfg.onAnswer(a)
			}
			key := a.resp.ResponderID
			if key == "" {
				key = a.from.String()
			}
			if i, ok := byResponder[key]; ok {
				got[i] = a // the same broker heard on two subnets, or twice
				continue
			}
			byResponder[key] = len(got)
			got = append(got, a)
		case <-window:
			return got, refusal, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// readAnswers delivers valid JOIN_RESPONSEs carrying nonce until conn is
// closed. Everything else is dropped; a full inbox drops too rather than
// block, since a flood of answers carries no more information than one.
func readAnswers(conn *net.UDPConn, ks *keyState, nonce uint64, self string, out chan<- answer, log zerolog.Logger) {
	buf := make([]byte, udpnet.MaxDatagram)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !udpnet.IsClosed(err) {
				log.Debug().Err(err).Msg("discovery read ended")
			}
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		resp, err := parseJoinResponseKeyed(buf[:n], ks)
		var ref *refusedError
		if errors.As(err, &ref) && ref.corr == nonce {
			select {
			case out <- answer{from: from, refused: ref.msg}:
			default:
			}
			continue
		}
		if err != nil {
			log.Debug().Err(err).Str("from", from.String()).Msg("discovery reply dropped")
			continue
		}
		if resp.Nonce != nonce {
			log.Debug().Str("from", from.String()).Msg("JOIN_RESPONSE with another nonce dropped")
			continue
		}
		if self != "" && resp.ResponderID == self {
			continue // our own Responder heard our broadcast
		}
		select {
		case out <- answer{from: from, resp: resp}:
		default:
			log.Debug().Msg("discovery inbox full; JOIN_RESPONSE dropped")
		}
	}
}

func failure(cfg Config, targets []netip.AddrPort, last verdict, everAnswered bool) error {
	const hint = "run `logstream netdiag` to check interfaces and broadcast, " +
		"or give the leader explicitly with --leader IP:PORT (LEADER_ADDRESS)"
	switch {
	case last.outcome == outcomeSplitBrain:
		return fmt.Errorf("%w after %d attempts: %s; the election has not resolved it; %s",
			ErrSplitBrain, cfg.Attempts, strings.Join(last.leaders, ", "), hint)
	case everAnswered:
		return fmt.Errorf("%w after %d attempts; %s", ErrNoLeader, cfg.Attempts, hint)
	}
	return fmt.Errorf("%w: %d JOIN attempts to %s got no answer; "+
		"brokers must be on the same subnet and the UDP discovery port must not be blocked; %s",
		ErrNoCluster, cfg.Attempts, joinAddrs(targets), hint)
}

func joinAddrs(t []netip.AddrPort) string {
	s := make([]string, len(t))
	for i, a := range t {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// peersOf lists the responders of answers that name no leader.
func peersOf(answers []answer) []Peer {
	var out []Peer
	for _, a := range answers {
		if a.resp.LeaderID == "" && !a.resp.IsLeader && a.resp.ResponderID != "" {
			out = append(out, Peer{ID: a.resp.ResponderID, View: a.resp.View})
		}
	}
	return out
}
