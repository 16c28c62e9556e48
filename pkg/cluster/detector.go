package cluster

import "time"

// Liveness is a failure detector's verdict on one peer.
type Liveness uint8

const (
	Alive Liveness = iota
	Suspected
	Failed
)

func (l Liveness) String() string {
	switch l {
	case Alive:
		return "alive"
	case Suspected:
		return "suspected"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Detector judges peers from the arrival times of their messages. It is the
// seam where the runtime can plug in phi-accrual (pkg/phi); the node only
// ever asks "alive, suspected or failed?". Implementations must be
// deterministic given the times passed in.
type Detector interface {
	// Heard records that a message from id arrived at now.
	Heard(id NodeID, now time.Time)
	// Status judges id at now. A peer never heard of is judged from the time
	// of its first Reset (or Failed if none).
	Status(id NodeID, now time.Time) Liveness
	// Reset starts judging id afresh from now (a new view, a new leader).
	Reset(id NodeID, now time.Time)
}

// TimeoutDetector is the plain detector: suspected after the suspicion
// timeout of silence, failed after the failure timeout.
type TimeoutDetector struct {
	suspicion, failure time.Duration
	last               map[NodeID]time.Time
}

// NewTimeoutDetector returns a detector with the given bounds.
func NewTimeoutDetector(suspicion, failure time.Duration) *TimeoutDetector {
	return &TimeoutDetector{suspicion: suspicion, failure: failure, last: map[NodeID]time.Time{}}
}

func (d *TimeoutDetector) Heard(id NodeID, now time.Time) {
	if t, ok := d.last[id]; !ok || now.After(t) {
		d.last[id] = now
	}
}

func (d *TimeoutDetector) Reset(id NodeID, now time.Time) { d.last[id] = now }

func (d *TimeoutDetector) Status(id NodeID, now time.Time) Liveness {
	t, ok := d.last[id]
	if !ok {
		return Failed
	}
	switch silent := now.Sub(t); {
	case silent >= d.failure:
		return Failed
	case silent >= d.suspicion:
		return Suspected
	}
	return Alive
}
