package cluster

import (
	"testing"
	"time"
)

func TestTimeoutDetector(t *testing.T) {
	d := NewTimeoutDetector(10*time.Second, 15*time.Second)
	t0 := simEpoch
	if d.Status(1, t0) != Failed {
		t.Error("a peer never heard of is not failed")
	}
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
	d.Heard(1, t0.Add(19*time.Second)) // out of order: ignored
	if got := d.Status(1, t0.Add(29*time.Second)); got != Alive {
		t.Errorf("after a late message: %v", got)
	}
}
