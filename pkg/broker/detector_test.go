package broker

import (
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
)

// A busy peer (a message every millisecond) that falls quiet is not
// condemned before two heartbeats are missed, however sure phi is.
func TestPhiDetectorFloorIsTwoBeats(t *testing.T) {
	const beat = time.Second
	d := newPhiDetector(beat, 2*time.Second, 3*time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.Reset(7, t0)
	now := t0
	for range 1000 {
		now = now.Add(time.Millisecond)
		d.Heard(7, now)
	}
	for _, tc := range []struct {
		quiet time.Duration
		want  cluster.Liveness
	}{
		{80 * time.Millisecond, cluster.Alive},
		{1900 * time.Millisecond, cluster.Alive},
		{2100 * time.Millisecond, cluster.Failed}, // phi, past the floor
		{3 * time.Second, cluster.Failed},         // FAILURE_TIMEOUT
	} {
		if got := d.Status(7, now.Add(tc.quiet)); got != tc.want {
			t.Errorf("after %v of quiet: %v, want %v", tc.quiet, got, tc.want)
		}
	}
	if got := d.Status(8, now); got != cluster.Failed {
		t.Errorf("never heard: %v, want Failed", got)
	}
}
