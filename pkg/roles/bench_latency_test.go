package roles

import (
	"testing"
	"time"
)

// Records whose send time was not taken (stamp 0: an unpaced run stamps one
// in sendStampEvery) count for throughput but not in the percentiles.
func TestLatenciesSkipUnstamped(t *testing.T) {
	l := newLatencies(100)
	stamps := []int64{0, 1000, 0, 0, 3000}
	l.since(5000, stamps)
	if len(l.samples) != 2 {
		t.Fatalf("got %d samples, want 2 (the stamped records)", len(l.samples))
	}
	p := l.percentiles()
	if p["max"] != float64(4000*time.Nanosecond)/float64(time.Microsecond) {
		t.Errorf("max = %v µs, want 4", p["max"])
	}
}
