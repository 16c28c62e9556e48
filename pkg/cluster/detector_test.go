package cluster

import (
	"testing"
	"time"
)

// A busy peer (a message every millisecond) that falls quiet is not
// condemned before two heartbeats are missed, however sure phi is.
func TestPhiDetectorFloorIsTwoBeats(t *testing.T) {
	const beat = time.Second
	d := NewPhiDetector(beat, 2*time.Second, 3*time.Second)
	now := busyPeer(d, 7)
	for _, tc := range []struct {
		quiet time.Duration
		want  Liveness
	}{
		{80 * time.Millisecond, Alive},
		{1900 * time.Millisecond, Alive},
		{2100 * time.Millisecond, Failed}, // phi, past the floor
		{3 * time.Second, Failed},         // FAILURE_TIMEOUT
	} {
		if got := d.Status(7, now.Add(tc.quiet)); got != tc.want {
			t.Errorf("after %v of quiet: %v, want %v", tc.quiet, got, tc.want)
		}
	}
	if got := d.Status(8, now); got != Failed {
		t.Errorf("never heard: %v, want Failed", got)
	}
}

// A regular peer with a 5 s beat is judged by the manual's
// timeouts: alive until SUSPICION_TIMEOUT, suspected until FAILURE_TIMEOUT;
// a late message clears it.
func TestPhiDetectorTimeouts(t *testing.T) {
	d := NewPhiDetector(5*time.Second, 10*time.Second, 15*time.Second)
	t0 := simEpoch
	d.Reset(1, t0)
	for _, c := range []struct {
		after time.Duration
		want  Liveness
	}{{0, Alive}, {9 * time.Second, Alive}, {10 * time.Second, Suspected}, {14 * time.Second, Suspected}, {15 * time.Second, Failed}} {
		if got := d.Status(1, t0.Add(c.after)); got != c.want {
			t.Errorf("after %v: %v, want %v", c.after, got, c.want)
		}
	}
	d.Heard(1, t0.Add(20*time.Second))
	if got := d.Status(1, t0.Add(29*time.Second)); got != Alive {
		t.Errorf("after a late message: %v", got)
	}
}

// The node's default detector is the phi detector brokers run.
func TestDefaultDetectorIsPhi(t *testing.T) {
	c := Config{ID: 1, Store: newMemStore()}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Detector.(*PhiDetector); !ok {
		t.Fatalf("default detector is %T", c.Detector)
	}
}

// A leader answers every follower heartbeat, so with the manual's intervals
// (leader beat 5 s, follower beat 2 s) each side owes the other a message
// every 2 s: a busy peer that falls quiet is condemned after two of those
// (4 s), not two leader beats (10 s) — a paused leader must be replaced in
// under 10 s at the defaults.
func TestPhiDetectorFloorIsTwoFollowerBeats(t *testing.T) {
	d := NewPhiDetector(2*time.Second, 10*time.Second, 15*time.Second)
	now := busyPeer(d, 7)
	for _, tc := range []struct {
		quiet time.Duration
		want  Liveness
	}{
		{3900 * time.Millisecond, Alive},
		{4100 * time.Millisecond, Failed},
	} {
		if got := d.Status(7, now.Add(tc.quiet)); got != tc.want {
			t.Errorf("after %v of quiet: %v, want %v", tc.quiet, got, tc.want)
		}
	}
}

// busyPeer makes id heard every millisecond for a second and returns the
// time of the last message.
func busyPeer(d Detector, id NodeID) time.Time {
	now := simEpoch
	d.Reset(id, now)
	for range 1000 {
		now = now.Add(time.Millisecond)
		d.Heard(id, now)
	}
	return now
}
