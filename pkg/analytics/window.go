package analytics

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// Limits on the shape of a Window; NewWindow clamps to them.
const (
	minBuckets = 1
	maxBuckets = 3600
	minWindow  = time.Second
)

// Window is a sliding window of record statistics built from a ring of time
// buckets. The window is split into n buckets of window/n each; a record falls
// in the bucket that holds its arrival time, and a bucket leaves the window
// as a whole once it is n buckets old. Counts are therefore exact per bucket
// and the window edge has a granularity of one bucket.
//
// A Window is not safe for concurrent use: its owner (one goroutine per
// subscription, or a mutex outside) drives Add and Snapshot.
type Window struct {
	bucketDur time.Duration
	n         int64

	// Bucket indexes count bucketDur steps from base, the first time seen.
	// Relative indexes keep the arithmetic inside int64 for any time.Time,
	// including the zero value.
	started bool
	base    time.Time
	head    int64 // newest bucket index; the window is (head-n, head]

	buckets []bucket

	total       uint64
	windowCount uint64
	windowBytes uint64

	// first is the arrival of the first record since the Window was made
	// or since the clock stepped back past the window; the rate divides by
	// the time since then while it is shorter than the window.
	hasFirst bool
	first    time.Time

	producers producerTable
}

// bucket holds one time slice of the window. entries has at most one entry
// per producer slot, so its length is bounded by maxProducers+1; its capacity
// is kept when the bucket is recycled, so steady-state Add does not allocate.
type bucket struct {
	count   uint64
	bytes   uint64
	entries []entry
}

type entry struct {
	slot  int32
	count uint64
}

// NewWindow returns an empty Window of the given length split into buckets
// time buckets (for example 60 s in 60 buckets). Out-of-range arguments are
// clamped (window to at least minWindow, buckets to [minBuckets, maxBuckets]);
// use checkParams first to turn them into user-facing errors. If window is
// not a multiple of buckets the effective window (Duration) is a little
// shorter.
func NewWindow(window time.Duration, buckets int) *Window {
	if window < minWindow {
		window = minWindow
	}
	buckets = max(minBuckets, min(buckets, maxBuckets))
	w := &Window{
		bucketDur: window / time.Duration(buckets),
		n:         int64(buckets),
		buckets:   make([]bucket, buckets),
	}
	w.producers.init()
	return w
}

// Duration is the effective window length: bucket duration times bucket count.
func (w *Window) Duration() time.Duration { return w.bucketDur * time.Duration(w.n) }

// Add records one record of the given size from producerID arriving at now.
//
// Time may move in any direction. A step forward expires the buckets it
// passes (all of them if the step is longer than the window). A step back
// that stays inside the window adds to the older bucket it falls in. A step
// back further than the window cannot be placed, so the window is cleared
// and restarted at now (Total is kept).
func (w *Window) Add(now time.Time, producerID string, bytes int) {
	idx := w.advance(now)
	b := &w.buckets[w.pos(idx)]
	slot := w.producers.slotFor(producerID)
	w.producers.count(b, slot, idx)

	nb := uint64(max(bytes, 0))
	b.count++
	b.bytes += nb
	w.windowCount++
	w.windowBytes += nb
	w.total++
	if !w.hasFirst {
		w.hasFirst = true
		w.first = now
	}
}

// advance moves the head of the window to now's bucket, expiring what falls
// out, and returns now's bucket index, which is always inside the window
// afterwards.
func (w *Window) advance(now time.Time) int64 {
	if !w.started {
		w.started = true
		w.base = now
		w.head = 0
		return 0
	}
	idx := floorDiv(now.Sub(w.base), w.bucketDur)
	switch {
	case idx > w.head:
		if idx-w.head >= w.n {
			w.clear()
		} else {
			for k := w.head + 1; k <= idx; k++ {
				w.expire(&w.buckets[w.pos(k)])
			}
		}
		w.head = idx
	case idx <= w.head-w.n:
		// The clock stepped back past the whole window (an NTP step,
		// a restored VM). Nothing held can be placed relative to the
		// new clock, so start over from it.
		w.clear()
		w.head = idx
		w.hasFirst = false
	}
	return idx
}

// clear empties every bucket. Its cost is the bucket count plus the entries
// held, which earlier Adds paid for.
func (w *Window) clear() {
	for i := range w.buckets {
		w.expire(&w.buckets[i])
	}
}

func (w *Window) expire(b *bucket) {
	if b.count == 0 {
		return
	}
	for _, e := range b.entries {
		w.producers.uncount(e)
	}
	w.windowCount -= b.count
	w.windowBytes -= b.bytes
	b.count, b.bytes = 0, 0
	b.entries = b.entries[:0]
}

// pos maps a bucket index (possibly negative) onto the ring.
func (w *Window) pos(idx int64) int {
	p := idx % w.n
	if p < 0 {
		p += w.n
	}
	return int(p)
}

// floorDiv divides rounding towards minus infinity, so that times before
// base fall into their own buckets rather than sharing bucket 0.
func floorDiv(d, unit time.Duration) int64 {
	q := d / unit
	if d%unit != 0 && d < 0 {
		q--
	}
	return int64(q)
}

// Snapshot is the state of a Window at one instant.
type Snapshot struct {
	Total       uint64  // all records seen since the Window was made
	WindowCount uint64  // records within the window
	Rate        float64 // records per second over the window (see Window.Snapshot)
	BytesPerSec float64
	// PerProducer holds the counts within the window, sorted by count
	// descending then id. At most maxProducers producers are tracked at
	// once; records of the rest are counted under otherProducers.
	PerProducer []ProducerCount
	// Buckets holds the per-bucket counts oldest→newest (saturated at
	// MaxUint32), for a sparkline.
	Buckets []uint32
}

// ProducerCount is one producer's record count within the window.
type ProducerCount struct {
	ProducerID string
	Count      uint64
}

// Snapshot returns the statistics at now. It advances the window to now
// first (expiring old buckets), so it mutates the Window; a now earlier than
// the newest record reports the window ending at that record's bucket.
//
// Rate and BytesPerSec divide by the time the window actually covers: from
// the start of its oldest bucket to now, but no longer than the time since
// the first record (so a fresh stream is not under-reported) and no shorter
// than one second (so a burst in the first instant does not read as
// thousands per second).
func (w *Window) Snapshot(now time.Time) Snapshot {
	s := Snapshot{Total: w.total, Buckets: make([]uint32, w.n)}
	if !w.started {
		return s
	}
	w.advance(now)
	s.WindowCount = w.windowCount
	for i := range w.n {
		c := w.buckets[w.pos(w.head-w.n+1+i)].count
		s.Buckets[i] = uint32(min(c, math.MaxUint32))
	}
	if w.windowCount > 0 {
		secs := w.coveredSpan(now).Seconds()
		s.Rate = float64(w.windowCount) / secs
		s.BytesPerSec = float64(w.windowBytes) / secs
	}
	s.PerProducer = w.producers.counts()
	slices.SortFunc(s.PerProducer, func(a, b ProducerCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.ProducerID, b.ProducerID)
	})
	return s
}

// coveredSpan is the divisor for the rates, described on Snapshot.
func (w *Window) coveredSpan(now time.Time) time.Duration {
	// head·bucketDur can only overflow for a now centuries before base
	// (now.Sub saturates there); treat such a now as the head's start.
	var intoHead time.Duration
	if w.head > math.MinInt64/int64(w.bucketDur) {
		intoHead = max(now.Sub(w.base)-time.Duration(w.head)*w.bucketDur, 0)
	}
	span := time.Duration(w.n-1)*w.bucketDur + min(intoHead, w.bucketDur)
	if w.hasFirst {
		span = min(span, now.Sub(w.first))
	}
	return max(span, min(time.Second, w.Duration()))
}
