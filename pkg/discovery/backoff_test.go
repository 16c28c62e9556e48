package discovery

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration // Delay(0), Delay(1), ...
	}{
		{"manual schedule", defaultBackoff,
			[]time.Duration{0, 1000 * ms, 1500 * ms, 2250 * ms, 3375 * ms, 5062500 * time.Microsecond, 7593750 * time.Microsecond, 10 * time.Second, 10 * time.Second}},
		{"zero value takes defaults", Backoff{}, []time.Duration{0, 1000 * ms, 1500 * ms, 2250 * ms}},
		{"broker start", Backoff{Initial: 500 * ms}, []time.Duration{0, 500 * ms, 750 * ms}},
		{"factor below 1 is constant", Backoff{Initial: 200 * ms, Factor: 0.5, Max: time.Second}, []time.Duration{0, 200 * ms, 200 * ms, 200 * ms}},
		{"initial above max", Backoff{Initial: 20 * time.Second, Factor: 2, Max: 10 * time.Second}, []time.Duration{0, 10 * time.Second, 10 * time.Second}},
		{"doubling", Backoff{Initial: 100 * ms, Factor: 2, Max: time.Second}, []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second}},
	}
	for _, tt := range tests {
		for i, want := range tt.want {
			if got := tt.b.Delay(i); got != want {
				t.Errorf("%s: Delay(%d) = %v, want %v", tt.name, i, got, want)
			}
		}
	}
	if got := defaultBackoff.Delay(1 << 30); got != 10*time.Second {
		t.Errorf("Delay(huge) = %v", got)
	}
	if got := defaultBackoff.Delay(-3); got != 0 {
		t.Errorf("Delay(-3) = %v", got)
	}
}

func TestLogLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := logLimiter{every: 10 * time.Second, now: func() time.Time { return now }}
	if ok, s := l.allow(); !ok || s != 0 {
		t.Fatalf("first: %v %d", ok, s)
	}
	for i := 0; i < 5; i++ {
		now = now.Add(time.Second)
		if ok, _ := l.allow(); ok {
			t.Fatalf("allowed within the interval at %d", i)
		}
	}
	now = now.Add(5 * time.Second)
	if ok, s := l.allow(); !ok || s != 5 {
		t.Fatalf("after interval: %v, suppressed %d; want true, 5", ok, s)
	}
}
