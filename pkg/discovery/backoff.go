package discovery

import "time"

// Backoff spaces discovery attempts: the manual's "1s, 1.5s, 2.25s… max 10s".
// Zero fields take those defaults.
type Backoff struct {
	Initial time.Duration // wait after the first failed attempt (1s)
	Factor  float64       // growth per attempt (1.5); values below 1 mean 1
	Max     time.Duration // cap (10s)
}

// defaultBackoff is the manual's schedule.
var defaultBackoff = Backoff{Initial: time.Second, Factor: 1.5, Max: 10 * time.Second}

// Delay is the wait after failed attempt number attempt (1-based):
// min(Max, Initial × Factor^(attempt-1)). Attempt 0 or less waits nothing.
func (b Backoff) Delay(attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	if b.Initial <= 0 {
		b.Initial = defaultBackoff.Initial
	}
	if b.Factor == 0 {
		b.Factor = defaultBackoff.Factor
	}
	if b.Factor < 1 {
		b.Factor = 1
	}
	if b.Max <= 0 {
		b.Max = defaultBackoff.Max
	}
	if b.Initial >= b.Max {
		return b.Max
	}
	// Multiply in floating point and stop at the cap, so a large attempt
	// number can neither overflow nor loop long.
	d := float64(b.Initial)
	for i := 1; i < attempt; i++ {
		d *= b.Factor
		if d >= float64(b.Max) {
			return b.Max
		}
	}
	return time.Duration(d)
}
