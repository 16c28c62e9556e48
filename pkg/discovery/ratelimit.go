package discovery

import (
	"net/netip"
	"time"
)

// logLimiter lets one log line through per interval and counts the rest, so
// a flood of bad datagrams cannot flood the log. Not safe for concurrent use:
// each reading loop owns one.
type logLimiter struct {
	every      time.Duration
	now        func() time.Time
	last       time.Time
	suppressed uint64
}

// allow reports whether to log now and how many lines were held back since
// the last one that was let through.
func (l *logLimiter) allow() (ok bool, suppressed uint64) {
	t := l.now()
	if !l.last.IsZero() && t.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	l.last = t
	s := l.suppressed
	l.suppressed = 0
	return true, s
}

// tokenBucket allows bursts of up to burst events and rate per second on
// average. A Responder uses it so a flood of JOINs (perhaps with a forged
// source address) cannot make it a traffic amplifier. Not safe for
// concurrent use.
type tokenBucket struct {
	rate, burst float64
	now         func() time.Time
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) allow() bool {
	t := b.now()
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	}
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// perSource keeps one tokenBucket per source address, so one noisy sender
// exhausts only its own budget, not everyone's. The map is bounded: when it
// is full it starts afresh (a flood of forged sources then costs each
// source at most one fresh burst). Not safe for concurrent use.
type perSource struct {
	rate, burst float64
	max         int
	now         func() time.Time
	buckets     map[netip.Addr]*tokenBucket
}

func (p *perSource) allow(a netip.Addr) bool {
	b, ok := p.buckets[a]
	if !ok {
		if p.buckets == nil || len(p.buckets) >= p.max {
			p.buckets = map[netip.Addr]*tokenBucket{}
		}
		b = &tokenBucket{rate: p.rate, burst: p.burst, now: p.now}
		p.buckets[a] = b
	}
	return b.allow()
}
