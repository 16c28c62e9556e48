package analytics

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAdd is the broker's per-record cost for a producer already
// tracked, with time advancing so buckets rotate as they would live.
func BenchmarkAdd(b *testing.B) {
	w := NewWindow(60*time.Second, 60)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		w.Add(now, "prod1", 128)
		now = now.Add(time.Millisecond)
	}
}

// BenchmarkAddManyProducers cycles through more producers than are tracked,
// so the fold into otherProducers and slot reuse are exercised.
func BenchmarkAddManyProducers(b *testing.B) {
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = fmt.Sprintf("producer-%d", i)
	}
	w := NewWindow(60*time.Second, 60)
	now := t0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		w.Add(now, ids[i%len(ids)], 128)
		now = now.Add(time.Millisecond)
		i++
	}
}

func BenchmarkSnapshot(b *testing.B) {
	w := NewWindow(60*time.Second, 60)
	now := t0
	for i := range 60_000 {
		w.Add(now, fmt.Sprint("p", i%50), 128)
		now = now.Add(time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Snapshot(now)
	}
}
