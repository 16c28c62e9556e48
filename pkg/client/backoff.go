package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logstream/logstream/pkg/discovery"

	"github.com/logstream/logstream/pkg/defaults"
)

// firstPause is the pause after a first failed attempt. Most refusals (a view
// change in progress) last tens of milliseconds, so the first retry comes
// soon; every further failure in a row doubles the pause up to
// ReconnectDelay, so a refusal that lasts (a lost quorum, a damaged topic,
// a connection limit) costs the broker a few attempts per second at most.
const firstPause = defaults.ReconnectFirstDelay

// backoff is the pause before the next attempt: firstPause doubling up to
// max (discovery's schedule arithmetic), each pause drawn from the upper half
// of its step ("equal jitter") so clients refused together do not all come
// back together.
type backoff struct {
	max  time.Duration
	rand func() float64 // uniform in [0, 1)
	n    int            // pauses taken since the last reset
}

// next returns the pause before the next attempt and grows the step.
func (b *backoff) next() time.Duration {
	b.n++
	step := discovery.Backoff{Initial: firstPause, Factor: 2, Max: b.max}.Delay(b.n)
	half := step / 2
	return half + time.Duration(b.rand()*float64(step-half))
}

func (b *backoff) reset() { b.n = 0 }

// attempts counts the attempts that failed in a row (a broker unreachable,
// a refusal, a lost connection) and paces the next one.
type attempts struct {
	l      *link
	failed int
	back   backoff
	// reached says whether the last failure was an answer from a broker (a
	// refusal, a lost session) rather than no broker at all: it picks the
	// give-up message.
	reached bool
}

func (l *link) newAttempts() *attempts {
	return &attempts{l: l, back: backoff{max: l.o.ReconnectDelay, rand: l.rand}}
}

// reset starts a new episode: the broker served us.
func (a *attempts) reset() {
	a.failed = 0
	a.back.reset()
}

// fail counts one failed attempt (why, from broker addr; "" for none
// reached). Once ReconnectAttempts have failed in a row it returns the error
// that ends the client; otherwise it pauses and returns nil, or ctx's error
// if ctx ends first.
func (a *attempts) fail(ctx context.Context, why error, addr string) error {
	a.failed++
	a.reached = addr != ""
	if a.failed >= a.l.o.ReconnectAttempts {
		return a.giveUp(why, addr)
	}
	pause := a.back.next()
	ev := a.l.o.Logger.Warn().Err(why).Dur("retry_in", pause)
	if addr != "" {
		ev = ev.Str("broker", addr)
	}
	ev.Msgf("attempt %d/%d failed", a.failed, a.l.o.ReconnectAttempts)
	if !a.l.pause(ctx, pause) {
		return ctx.Err()
	}
	return nil
}

// giveUp is the one line a client ends with when its attempts are spent.
func (a *attempts) giveUp(why error, addr string) error {
	var r *refusal
	if !a.reached && !errors.As(why, &r) {
		return fmt.Errorf("%w after %d attempts: %v (is a broker running? `logstream netdiag` shows what discovery sees; --leader IP:PORT skips it)",
			errGaveUp, a.failed, why)
	}
	if !a.reached {
		return fmt.Errorf("%w after %d attempts: %v", errGaveUp, a.failed, why) // why names the broker
	}
	return fmt.Errorf("%w: %d attempts in a row failed, the last at %s: %v (-reconnect-attempts sets how many)", errGaveUp, a.failed, addr, why)
}

// errGaveUp is returned when ReconnectAttempts attempts in a row failed.
var errGaveUp = errors.New("giving up")

// sleep is link.pause's default: it waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
