package cluster

import (
	"time"

	"github.com/logstream/logstream/pkg/phi"
)

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

// Detector judges peers from the arrival times of their messages; the node
// only ever asks "alive, suspected or failed?". Implementations must be
// deterministic given the times passed in. The node's default, and what
// brokers run, is PhiDetector; the seam stays so a test can plug in a
// detector that does what it is told.
type Detector interface {
	// Heard records that a message from id arrived at now.
	Heard(id NodeID, now time.Time)
	// Status judges id at now. A peer never heard of is judged from the time
	// of its first Reset (or Failed if none).
	Status(id NodeID, now time.Time) Liveness
	// Reset starts judging id afresh from now (a new view, a new leader).
	Reset(id NodeID, now time.Time)
}

// PhiDetector is the Detector brokers run (and the simulation with them):
// phi-accrual over each peer's history of message inter-arrival times
// decides when silence is suspicious, with the manual's SUSPICION_TIMEOUT and
// FAILURE_TIMEOUT as the outer bounds.
//
// Every message counts as a sign of life, so under load a peer's mean
// interval is a millisecond and phi alone would condemn it after a few
// dozen milliseconds of quiet (a view change, a busy loop): chaos runs saw a
// leader judge a live member Failed 80 ms after installing a view, again
// and again. Heartbeats are the only traffic a live peer owes, so no silence
// shorter than two of them condemns it. The beat is FollowerHBInterval both
// ways: a follower heartbeats its leader at that pace and the leader
// answers each one (besides its own BrokerHBInterval beat, which clients
// and joiners hear), so a paused leader is judged by the follower beat —
// 4 s at the defaults, not the 10 s of two leader beats.
//
// It reads no clock and is not safe for concurrent use: the node's owner
// calls it, with the times it hands the node.
type PhiDetector struct {
	det      phi.Detector
	interval time.Duration // expected interval, seeds a new history
	hist     map[NodeID]*phi.History
}

// NewPhiDetector returns the detector for a node with this follower
// heartbeat interval and these timeouts (Config's fields of the same names).
func NewPhiDetector(followerHB, suspicion, failure time.Duration) *PhiDetector {
	beat := followerHB
	return &PhiDetector{
		det:      phi.Detector{SuspicionTimeout: suspicion, FailureTimeout: failure, MinTimeout: 2 * beat},
		interval: beat,
		hist:     map[NodeID]*phi.History{},
	}
}

func (d *PhiDetector) Heard(id NodeID, now time.Time) {
	h, ok := d.hist[id]
	if !ok {
		h = phi.NewHistory(phi.DefaultSize, d.interval)
		d.hist[id] = h
	}
	h.Heartbeat(now)
}

func (d *PhiDetector) Reset(id NodeID, now time.Time) {
	h := phi.NewHistory(phi.DefaultSize, d.interval)
	h.Heartbeat(now)
	d.hist[id] = h
}

func (d *PhiDetector) Status(id NodeID, now time.Time) Liveness {
	l, _, _, _ := d.Judge(id, now)
	return l
}

// Judge is Status with what the verdict rests on: how long id has been
// silent and its phi at now. judged is false (and the verdict Failed) for
// a peer never heard of nor Reset.
func (d *PhiDetector) Judge(id NodeID, now time.Time) (l Liveness, silence time.Duration, p float64, judged bool) {
	h, ok := d.hist[id]
	if !ok {
		return Failed, 0, 0, false
	}
	switch d.det.Judge(h, now) {
	case phi.Suspected:
		l = Suspected
	case phi.Failed:
		l = Failed
	default:
		l = Alive
	}
	return l, h.Elapsed(now), h.Phi(now), true
}
