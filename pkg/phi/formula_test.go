package phi

import (
	"math"
	"testing"
	"time"
)

// exactPhi is phi under the exact normal tail, for comparison.
func exactPhi(y float64) float64 { return -math.Log10(0.5 * math.Erfc(y/math.Sqrt2)) }

func TestPhiValues(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name                  string
		elapsed, mean, stddev time.Duration
		want, tol             float64
	}{
		{"at the mean", 5 * s, 5 * s, s, math.Log10(2), 1e-12},
		{"long before the mean", 0, 5 * s, 100 * time.Millisecond, 0, 1e-12},
		{"one deviation late", 6 * s, 5 * s, s, exactPhi(1), 2e-3},
		{"three deviations late", 8 * s, 5 * s, s, exactPhi(3), 0.05},
		{"one deviation early", 4 * s, 5 * s, s, exactPhi(-1), 1e-3},
		{"zero deviation before the mean", 4 * s, 5 * s, 0, 0, 0},
		{"zero deviation at the mean", 5 * s, 5 * s, 0, 0, 0},
		{"zero deviation after the mean", 5*s + 1, 5 * s, 0, math.Inf(1), 0},
		{"negative deviation", 6 * s, 5 * s, -s, math.Inf(1), 0},
	}
	for _, tt := range tests {
		got := Phi(tt.elapsed, tt.mean, tt.stddev)
		if !(math.Abs(got-tt.want) <= tt.tol || got == tt.want) {
			t.Errorf("%s: Phi(%v, %v, %v) = %v; want %v ± %v", tt.name, tt.elapsed, tt.mean, tt.stddev, got, tt.want, tt.tol)
		}
	}
}

// The logistic approximation tracks the exact normal tail closely over the
// range that matters for the thresholds (phi up to about 10).
func TestPhiApproximatesNormal(t *testing.T) {
	for y := -3.0; y <= 5.0; y += 0.25 {
		got := Phi(time.Duration(5e9+y*1e9), 5*time.Second, time.Second)
		want := exactPhi(y)
		if math.Abs(got-want) > 0.15*math.Max(1, want) {
			t.Errorf("y=%v: phi %v, exact normal %v", y, got, want)
		}
	}
}

func TestPhiMonotonic(t *testing.T) {
	tests := []struct{ mean, stddev time.Duration }{
		{5 * time.Second, time.Second},
		{5 * time.Second, 10 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Millisecond},
		{time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		prev := -1.0
		for i := range 10_000 {
			elapsed := time.Duration(i) * tt.mean / 1000 // 0 to 10 means
			p := Phi(elapsed, tt.mean, tt.stddev)
			if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
				t.Fatalf("mean %v sd %v: Phi(%v) = %v", tt.mean, tt.stddev, elapsed, p)
			}
			if p < prev {
				t.Fatalf("mean %v sd %v: phi fell from %v to %v at %v", tt.mean, tt.stddev, prev, p, elapsed)
			}
			prev = p
		}
	}
}

func TestPhiExtremesStayFinite(t *testing.T) {
	for _, elapsed := range []time.Duration{math.MaxInt64, math.MinInt64, time.Hour} {
		p := Phi(elapsed, time.Second, time.Nanosecond)
		if math.IsNaN(p) || math.IsInf(p, 0) {
			t.Errorf("Phi(%v, 1s, 1ns) = %v", elapsed, p)
		}
	}
}
