package discovery

import "time"

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
