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

// Two runs started within the same second use different topics (a run's
// consumer reads its topics from the start).
func TestBenchTopicsFreshPerRun(t *testing.T) {
	t0 := time.Unix(1700000000, 100)
	a, b := benchTopics("bench", t0, 2), benchTopics("bench", t0.Add(300*time.Millisecond), 2)
	if a[0] == b[0] || a[1] == b[1] || a[0] == a[1] {
		t.Fatalf("topics of two runs 300 ms apart: %v and %v", a, b)
	}
}
