package roles

import (
	"context"
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

// fakeSender is a producer whose Send and Flush each take a fixed time on a
// fake clock.
type fakeSender struct {
	clock          *int64
	send, flush    time.Duration
	sends, flushes int
}

func (f *fakeSender) Send(context.Context, []byte) error {
	f.sends++
	*f.clock += int64(f.send)
	return nil
}

func (f *fakeSender) Flush(context.Context) error {
	f.flushes++
	*f.clock += int64(f.flush)
	return nil
}

// One at a time, a record's latency is what the caller waited: Send and
// the Flush that returns with its acknowledgement, as a peer's client
// times a synchronous publish.
func TestSyncLatencyIsWhatTheCallerWaits(t *testing.T) {
	var clock int64
	s := &fakeSender{clock: &clock, send: 2 * time.Microsecond, flush: 17 * time.Microsecond}
	l := newLatencies(3)
	if err := benchSync(context.Background(), s, []byte("x"), 3, l, func() int64 { return clock }); err != nil {
		t.Fatal(err)
	}
	if s.sends != 3 || s.flushes != 3 {
		t.Fatalf("%d sends and %d flushes, want 3 of each", s.sends, s.flushes)
	}
	if len(l.samples) != 3 {
		t.Fatalf("%d samples, want 3", len(l.samples))
	}
	for _, d := range l.samples {
		if d != 19*time.Microsecond {
			t.Fatalf("sample %v, want 19µs (Send and Flush)", d)
		}
	}
}
