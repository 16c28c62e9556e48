package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

// AnswerFunc decides the reply to one JOIN. It returns false to stay silent:
// a broker ignores its own JOIN (it hears its own broadcast) and may ignore
// JOINs while it has nothing useful to say. It runs on the reading goroutine,
// so it must be quick and must not block. The Responder sets the reply's
// Nonce itself.
type AnswerFunc func(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool)

// Responder answers JOIN datagrams on a broker's discovery socket.
type Responder struct {
	conn     *net.UDPConn
	answer   AnswerFunc
	log      zerolog.Logger
	limiter  logLimiter
	authLog  logLimiter
	ks       *keyState
	answers  tokenBucket // JOIN_RESPONSEs sent, in all
	perIP    perSource   // JOIN_RESPONSEs sent to one address
	refusals tokenBucket // refusals sent to senders with the wrong key

	datagrams, malformed, wrongType, joins, ignored, answered, sendErrors atomic.Uint64
	unauthorized, replayed, rateLimited, refused                          atomic.Uint64
}

// Answer rates: a real cluster's clients JOIN a few times a minute each.
const (
	answersPerSecond  = 1000
	answerBurst       = 500
	perIPPerSecond    = 20
	perIPBurst        = 20
	maxSources        = 4096
	refusalsPerSecond = 2
	refusalBurst      = 4
)

// SetKey makes the Responder answer only JOINs sealed with k (and seal its
// answers); a JOIN with another key or none gets a rate-limited refusal, so
// the asker can say its key does not match. Without SetKey sealed JOINs are
// refused the same way. Call it before Run.
func (r *Responder) SetKey(k *wire.Key) { r.ks = newKeyState(k) }

// NewResponder wraps conn (normally udpnet.ListenBroadcast on port 8888).
// Run takes ownership of conn.
func NewResponder(conn *net.UDPConn, answer AnswerFunc, log zerolog.Logger) *Responder {
	return &Responder{
		conn:     conn,
		answer:   answer,
		log:      log.With().Str("component", "discovery").Logger(),
		limiter:  logLimiter{every: 10 * time.Second, now: time.Now},
		authLog:  logLimiter{every: 10 * time.Second, now: time.Now},
		answers:  tokenBucket{rate: answersPerSecond, burst: answerBurst, now: time.Now},
		perIP:    perSource{rate: perIPPerSecond, burst: perIPBurst, max: maxSources, now: time.Now},
		refusals: tokenBucket{rate: refusalsPerSecond, burst: refusalBurst, now: time.Now},
	}
}

// Run reads JOIN frames and replies unicast to each sender until ctx ends.
// Malformed datagrams are counted and dropped, with at most one warning per
// ten seconds. Run closes the conn when ctx ends (which is how its blocked
// read wakes) and before it returns; it returns nil after a cancel and the
// socket error otherwise.
func (r *Responder) Run(ctx context.Context) error {
	stop := udpnet.CloseOnDone(ctx, r.conn)
	defer stop()
	defer r.conn.Close()
	buf := make([]byte, udpnet.MaxDatagram)
	var out []byte
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		r.datagrams.Add(1)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		j, corr, err := parseJoinKeyed(buf[:n], r.ks)
		if err != nil {
			if isAuth(err) {
				r.refuse(from, buf[:n], err)
			} else {
				r.drop(from, n, err)
			}
			continue
		}
		r.joins.Add(1)
		if !r.perIP.allow(from.Addr()) || !r.answers.allow() {
			r.rateLimited.Add(1)
			continue
		}
		resp, ok := r.answer(j, from)
		if !ok {
			r.ignored.Add(1)
			r.log.Debug().Str("from", from.String()).Str("node", j.NodeID).Stringer("role", j.Role).Msg("JOIN ignored")
			continue
		}
		resp.Nonce = j.Nonce
		out = appendJoinResponseKeyed(out[:0], resp, corr, r.ks)
		if err := udpnet.Send(r.conn, out, from, 0); err != nil {
			r.sendErrors.Add(1)
			r.log.Warn().Err(err).Str("to", from.String()).Msg("JOIN_RESPONSE send failed")
			continue
		}
		r.answered.Add(1)
		r.log.Debug().Str("from", from.String()).Str("node", j.NodeID).Stringer("role", j.Role).
			Str("leader", resp.LeaderID).Msg("JOIN answered with JOIN_RESPONSE")
	}
}

// refuse counts a datagram that failed the key check and, for a JOIN, tells
// the sender (at most refusalsPerSecond) that its key does not match.
func (r *Responder) refuse(from netip.AddrPort, b []byte, err error) {
	if errors.Is(err, wire.ErrReplayed) {
		r.replayed.Add(1)
		return
	}
	r.unauthorized.Add(1)
	if ok, suppressed := r.authLog.allow(); ok {
		r.log.Warn().Err(err).Str("from", from.String()).Uint64("suppressed", suppressed).
			Msg("JOIN refused: the cluster key does not match")
	}
	f, _, derr := wire.DecodeFrame(b, 0)
	if derr != nil || f.Type != wire.TypeJoin || !r.refusals.allow() {
		return
	}
	msg := "this cluster's key does not match yours (or one side has none); set the same LOGSTREAM_CLUSTER_KEY or --cluster-key-file everywhere"
	if udpnet.Send(r.conn, wire.Refusal(f.Corr, msg), from, 0) == nil {
		r.refused.Add(1)
	}
}

func (r *Responder) drop(from netip.AddrPort, n int, err error) {
	var wt errWrongType
	if errors.As(err, &wt) {
		r.wrongType.Add(1)
	} else {
		r.malformed.Add(1)
	}
	if ok, suppressed := r.limiter.allow(); ok {
		r.log.Warn().Err(err).Str("from", from.String()).Int("bytes", n).Uint64("suppressed", suppressed).
			Msg("discovery datagram dropped")
	}
}

// Counters reports what the Responder has seen, for metrics and tests:
// datagrams read, malformed (not a valid frame or JOIN body), wrong_type
// (a valid frame that is not JOIN), joins, ignored (answer said no),
// answered, send_errors, unauthorized (failed the key check), replayed
// (sealed, but seen before), rate_limited (JOINs not answered to stay under
// the answer rate), refused (refusals sent).
func (r *Responder) Counters() map[string]uint64 {
	return map[string]uint64{
		"unauthorized": r.unauthorized.Load(),
		"replayed":     r.replayed.Load(),
		"rate_limited": r.rateLimited.Load(),
		"refused":      r.refused.Load(),
		"datagrams":    r.datagrams.Load(),
		"malformed":    r.malformed.Load(),
		"wrong_type":   r.wrongType.Load(),
		"joins":        r.joins.Load(),
		"ignored":      r.ignored.Load(),
		"answered":     r.answered.Load(),
		"send_errors":  r.sendErrors.Load(),
	}
}
