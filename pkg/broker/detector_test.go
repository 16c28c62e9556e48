package broker

import (
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
)

// The broker's detector judges as the node's PhiDetector does and keeps
// each judgement for Snapshot.
func TestWatchedDetectorKeepsJudgements(t *testing.T) {
	d := newWatchedDetector(cluster.NewPhiDetector(time.Second, 2*time.Second, 3*time.Second))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.Reset(7, t0)
	if got := d.Status(7, t0.Add(3*time.Second)); got != cluster.Failed {
		t.Errorf("after FAILURE_TIMEOUT: %v", got)
	}
	if got := d.Status(8, t0); got != cluster.Failed {
		t.Errorf("never heard: %v, want Failed", got)
	}
	j := d.judged()
	if len(j) != 1 || j[7].age != 3*time.Second || j[7].phi <= 0 {
		t.Errorf("judgements %+v, want peer 7 after 3s with a phi", j)
	}
}
