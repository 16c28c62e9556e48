package phi

import (
	"math"
	"time"
)

const (
	// DefaultSize is the number of intervals a History keeps when
	// NewHistory is given size <= 0: about the last few minutes at the
	// manual's 2–5 s heartbeat intervals, enough for a stable mean and
	// deviation, short enough to follow a change of network.
	DefaultSize = 100
	// maxSize bounds a History's memory whatever it is asked for.
	maxSize = 10_000
	// defaultFirstInterval seeds a History when NewHistory is given
	// firstInterval <= 0.
	defaultFirstInterval = time.Second

	// minStddev and minStddevFraction floor the deviation History.Phi
	// uses at max(minStddev, mean·minStddevFraction). Heartbeats sent on
	// a timer over a quiet LAN (or a simulated clock) can be almost
	// perfectly regular; without a floor the deviation tends to zero and
	// a beat a few milliseconds late would give an enormous phi. A tenth
	// of the interval is what Akka's defaults amount to (100 ms for 1 s
	// beats); the absolute 10 ms covers sub-second test intervals, where
	// scheduling and GC pauses are of that order.
	minStddev         = 10 * time.Millisecond
	minStddevFraction = 0.1
)

// History is a bounded ring of the last inter-arrival intervals of one
// member's heartbeats. It is not safe for concurrent use.
type History struct {
	intervals []time.Duration
	next      int // ring write position
	filled    int

	hasLast bool
	last    time.Time

	// Mean and deviation are recomputed lazily, after a heartbeat, over at
	// most maxSize intervals: exact, with no running sums to drift.
	stale          bool
	mean, rawStdev time.Duration
}

// NewHistory returns a History holding up to size intervals (DefaultSize if
// size <= 0, at least 2, at most maxSize), seeded with two intervals of
// firstInterval ± 25%: mean firstInterval and deviation firstInterval/4.
// Seeding lets phi work from the first heartbeat, using the configured
// heartbeat interval as the prior; a quarter of the interval is a cautious
// deviation for a network not yet observed. Real intervals push the seeds
// out of the ring.
func NewHistory(size int, firstInterval time.Duration) *History {
	if size <= 0 {
		size = DefaultSize
	}
	size = max(2, min(size, maxSize))
	if firstInterval <= 0 {
		firstInterval = defaultFirstInterval
	}
	h := &History{intervals: make([]time.Duration, size)}
	h.push(firstInterval - firstInterval/4)
	h.push(firstInterval + firstInterval/4)
	return h
}

// Heartbeat records a heartbeat arriving at now. The first call only marks
// the time: call it when the member is first seen (on join), since before it
// the History has nothing to measure silence from. A heartbeat at the same
// instant as the previous one or earlier (a clock step back) records no
// interval, but still restarts the silence from now: the member has just
// been heard from.
func (h *History) Heartbeat(now time.Time) {
	if h.hasLast {
		if d := now.Sub(h.last); d > 0 {
			h.push(d)
		}
	}
	h.hasLast = true
	h.last = now
}

func (h *History) push(d time.Duration) {
	h.intervals[h.next] = d
	h.next = (h.next + 1) % len(h.intervals)
	h.filled = min(h.filled+1, len(h.intervals))
	h.stale = true
}

// Len is the number of intervals held, seeds included.
func (h *History) Len() int { return h.filled }

// Last returns the time of the last heartbeat, and false if there was none.
func (h *History) Last() (time.Time, bool) { return h.last, h.hasLast }

// Elapsed is the silence since the last heartbeat at now: zero before the
// first heartbeat or if now is earlier than it.
func (h *History) Elapsed(now time.Time) time.Duration {
	if !h.hasLast {
		return 0
	}
	return max(now.Sub(h.last), 0)
}

// Stats returns the mean interval and the deviation Phi uses, that is the
// population standard deviation of the intervals raised to the floor
// max(minStddev, mean·minStddevFraction).
func (h *History) Stats() (mean, stddev time.Duration) {
	if h.stale {
		h.recompute()
	}
	floor := max(minStddev, time.Duration(float64(h.mean)*minStddevFraction))
	return h.mean, max(h.rawStdev, floor)
}

func (h *History) recompute() {
	var sum float64
	for _, d := range h.intervals[:h.filled] {
		sum += float64(d)
	}
	mean := sum / float64(h.filled)
	var sq float64
	for _, d := range h.intervals[:h.filled] {
		diff := float64(d) - mean
		sq += diff * diff
	}
	h.mean = time.Duration(mean)
	h.rawStdev = time.Duration(math.Sqrt(sq / float64(h.filled)))
	h.stale = false
}

// Phi is the phi of the silence since the last heartbeat at now, given the
// intervals held (see the package function Phi and Stats). It is 0 before
// the first heartbeat.
func (h *History) Phi(now time.Time) float64 {
	if !h.hasLast {
		return 0
	}
	mean, stddev := h.Stats()
	return Phi(h.Elapsed(now), mean, stddev)
}
