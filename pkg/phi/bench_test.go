package phi

import (
	"testing"
	"time"
)

// BenchmarkJudge is the per-member cost of one detector tick right after a
// heartbeat (the statistics are recomputed once per heartbeat).
func BenchmarkJudge(b *testing.B) {
	h := regular(2*time.Second, 200)
	d := Detector{SuspicionTimeout: 10 * time.Second, FailureTimeout: 15 * time.Second}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(2 * time.Second)
		h.Heartbeat(now)
		_ = d.Judge(h, now.Add(time.Second))
	}
}
