package phi

import (
	"fmt"
	"math"
	"time"
)

// Verdict is a Detector's judgement of one member.
type Verdict int

const (
	Alive Verdict = iota
	Suspected
	Failed
)

func (v Verdict) String() string {
	switch v {
	case Alive:
		return "alive"
	case Suspected:
		return "suspected"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Default phi thresholds.
//
// defaultSuspectPhi = 5: the silence has under a 1-in-100,000 chance of
// being an ordinary late beat under the history's own distribution. Being
// suspected is cheap (it starts the suspicion path, nothing is torn down), so
// it can be raised early.
//
// defaultFailPhi = 8: one in a hundred million, the threshold Akka and
// Cassandra default to. Failing a leader starts an election and a view
// change, so a false positive is expensive. Real heartbeat delays have
// heavier tails than the normal curve assumes, which is why the thresholds
// are this high and why Judge also demands the floors below.
const (
	defaultSuspectPhi = 5.0
	defaultFailPhi    = 8.0
)

// Floors, in mean heartbeat intervals, below which phi alone never condemns:
// a member is not Suspected before suspectFloorMeans·mean of silence (a whole
// beat missed, not merely late) nor Failed before failFloorMeans·mean (two
// beats missed). A single lost heartbeat datagram — routine on UDP — thus
// never fails a node. With the manual's defaults (5 s beats, suspicion 10 s,
// failure 15 s) the floors coincide with the timeouts on a regular network;
// with larger timeouts phi decides between floor and timeout.
const (
	suspectFloorMeans = 2
	failFloorMeans    = 3
)

// Detector turns a History into a Verdict. Its zero value uses the default
// phi thresholds and no timeouts.
//
// For each verdict the silence at which it is given is, in effect,
//
//	clamp(when phi reaches the threshold, floor, timeout)
//
// where floor = max(k·mean, MinTimeout) with k = suspectFloorMeans or
// failFloorMeans: phi adapts to the network between a floor that tolerates a
// late or lost beat and the manual's timeout, which is always the outer
// bound (a timeout fires whatever phi and the floors say).
type Detector struct {
	// SuspectPhi and FailPhi are the phi thresholds; 0 means the default.
	// +Inf turns phi off, leaving only the timeouts.
	SuspectPhi, FailPhi float64
	// SuspicionTimeout and FailureTimeout are the manual's
	// --suspicion-timeout and --failure-timeout: silences after which the
	// verdict is given regardless of phi. 0 means no such bound.
	SuspicionTimeout, FailureTimeout time.Duration
	// MinTimeout is an absolute floor under both phi verdicts, for short
	// heartbeat intervals where a GC pause or a busy host is longer than
	// a couple of beats. 0 means none.
	MinTimeout time.Duration
}

// Judge returns the verdict on the member whose heartbeats h holds, at now.
// A member never heard from (no Heartbeat yet) is Alive: the owner starts
// its History with a Heartbeat when the member joins.
func (d Detector) Judge(h *History, now time.Time) Verdict {
	if _, ok := h.Last(); !ok {
		return Alive
	}
	elapsed := h.Elapsed(now)
	if d.FailureTimeout > 0 && elapsed >= d.FailureTimeout {
		return Failed
	}
	mean, _ := h.Stats()
	phi := h.Phi(now)
	if phi >= orDefault(d.FailPhi, defaultFailPhi) && elapsed >= d.floor(failFloorMeans, mean) {
		return Failed
	}
	if d.SuspicionTimeout > 0 && elapsed >= d.SuspicionTimeout {
		return Suspected
	}
	if phi >= orDefault(d.SuspectPhi, defaultSuspectPhi) && elapsed >= d.floor(suspectFloorMeans, mean) {
		return Suspected
	}
	return Alive
}

func (d Detector) floor(means int64, mean time.Duration) time.Duration {
	return max(saturatingMul(mean, means), d.MinTimeout)
}

func saturatingMul(d time.Duration, k int64) time.Duration {
	if d > math.MaxInt64/time.Duration(k) {
		return math.MaxInt64
	}
	return d * time.Duration(k)
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// Validate reports a configuration that cannot work, phrased with the
// command-line flags a user would have set.
func (d Detector) Validate() error {
	s, f := orDefault(d.SuspectPhi, defaultSuspectPhi), orDefault(d.FailPhi, defaultFailPhi)
	switch {
	case math.IsNaN(s) || s < 0:
		return fmt.Errorf("suspect phi must be positive, got %v", d.SuspectPhi)
	case math.IsNaN(f) || f < 0:
		return fmt.Errorf("fail phi must be positive, got %v", d.FailPhi)
	case f < s:
		return fmt.Errorf("fail phi (%v) must not be below suspect phi (%v)", f, s)
	case d.SuspicionTimeout < 0:
		return fmt.Errorf("--suspicion-timeout must not be negative, got %v", d.SuspicionTimeout)
	case d.FailureTimeout < 0:
		return fmt.Errorf("--failure-timeout must not be negative, got %v", d.FailureTimeout)
	case d.MinTimeout < 0:
		return fmt.Errorf("minimum timeout must not be negative, got %v", d.MinTimeout)
	case d.SuspicionTimeout > 0 && d.FailureTimeout > 0 && d.FailureTimeout < d.SuspicionTimeout:
		return fmt.Errorf("--failure-timeout (%v) must not be shorter than --suspicion-timeout (%v)",
			d.FailureTimeout, d.SuspicionTimeout)
	}
	return nil
}
