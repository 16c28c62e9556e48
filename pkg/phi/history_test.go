package phi

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestNewHistorySeeds(t *testing.T) {
	tests := []struct {
		size       int
		first      time.Duration
		wantMean   time.Duration
		wantStddev time.Duration
		wantIntCap int
	}{
		{100, 4 * time.Second, 4 * time.Second, time.Second, 100},
		{0, 0, time.Second, 250 * time.Millisecond, DefaultSize},
		{1, 2 * time.Second, 2 * time.Second, 500 * time.Millisecond, 2},
		{1 << 30, time.Second, time.Second, 250 * time.Millisecond, maxSize},
	}
	for _, tt := range tests {
		h := NewHistory(tt.size, tt.first)
		mean, sd := h.Stats()
		if mean != tt.wantMean || sd != tt.wantStddev || len(h.intervals) != tt.wantIntCap || h.Len() != 2 {
			t.Errorf("NewHistory(%d, %v): mean %v sd %v cap %d len %d", tt.size, tt.first, mean, sd, len(h.intervals), h.Len())
		}
		if p := h.Phi(t0); p != 0 {
			t.Errorf("Phi before any heartbeat = %v", p)
		}
	}
}

func TestHistoryRing(t *testing.T) {
	h := NewHistory(4, 10*time.Second)
	now := t0
	h.Heartbeat(now)
	for _, d := range []time.Duration{1, 2, 3, 4, 5, 6} {
		now = now.Add(d * time.Second)
		h.Heartbeat(now)
	}
	// Seeds and the first two intervals are gone: 3, 4, 5, 6 remain.
	mean, sd := h.Stats()
	if h.Len() != 4 || mean != 4500*time.Millisecond {
		t.Errorf("len %d mean %v", h.Len(), mean)
	}
	if want := time.Duration(math.Sqrt(1.25) * 1e9); sd != want {
		t.Errorf("stddev %v; want %v", sd, want)
	}
}

func TestHeartbeatOddTimes(t *testing.T) {
	h := NewHistory(10, time.Second)
	h.Heartbeat(t0.Add(10 * time.Second))
	h.Heartbeat(t0.Add(10 * time.Second)) // duplicate: no interval
	h.Heartbeat(t0.Add(5 * time.Second))  // clock stepped back: no interval
	if h.Len() != 2 {
		t.Errorf("len %d; odd heartbeats recorded intervals", h.Len())
	}
	if last, ok := h.Last(); !ok || !last.Equal(t0.Add(5*time.Second)) {
		t.Errorf("last = %v, %v; the silence must restart at the latest heartbeat", last, ok)
	}
	if e := h.Elapsed(t0); e != 0 {
		t.Errorf("Elapsed before the last heartbeat = %v", e)
	}
	if p := h.Phi(t0); p > 0.01 {
		t.Errorf("Phi before the last heartbeat = %v", p)
	}
}

func TestStddevFloor(t *testing.T) {
	tests := []struct {
		interval time.Duration
		wantSd   time.Duration
	}{
		{5 * time.Second, 500 * time.Millisecond}, // mean/10
		{50 * time.Millisecond, minStddev},
	}
	for _, tt := range tests {
		h := regular(tt.interval, 200)
		mean, sd := h.Stats()
		if mean != tt.interval || sd != tt.wantSd {
			t.Errorf("regular %v: mean %v sd %v; want sd %v", tt.interval, mean, sd, tt.wantSd)
		}
		// A perfectly regular history still gives a finite phi.
		if p := h.Phi(h.last.Add(3 * tt.interval)); math.IsInf(p, 0) || math.IsNaN(p) {
			t.Errorf("regular %v: phi %v", tt.interval, p)
		}
	}
}

// regular returns a History (default size) fed n heartbeats exactly
// interval apart, the last at t0.
func regular(interval time.Duration, n int) *History {
	h := NewHistory(0, interval)
	for i := n - 1; i >= 0; i-- {
		h.Heartbeat(t0.Add(-time.Duration(i) * interval))
	}
	return h
}
