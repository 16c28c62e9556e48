package chaos

import (
	"testing"
	"time"
)

func TestStallAfter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c := &consumed{}
	for _, s := range []float64{0, 1, 2, 2.5, 7, 7.5, 8} {
		c.arrival = append(c.arrival, at(s))
	}
	for _, tc := range []struct {
		name           string
		from, to, open float64 // open < 0: the stream has ended
		want           float64
	}{
		{"pause inside the window", 2, 6, -1, 4.5},
		{"pause running past the window ends at the next delivery", 2.6, 4, -1, 4.4},
		{"pause before the window does not count", 7.2, 8, -1, 0.5},
		{"no delivery yet: open until now", 8.1, 9, 12, 3.9},
		{"no delivery yet, stream ended: the end is no stall", 8.1, 9, -1, 0},
	} {
		open := time.Time{}
		if tc.open >= 0 {
			open = at(tc.open)
		}
		got, _ := c.stallAfter(at(tc.from), at(tc.to), open)
		if want := time.Duration(tc.want * float64(time.Second)); got != want {
			t.Errorf("%s: stall %v, want %v", tc.name, got, want)
		}
	}
}

// A pause that runs into the next fault counts for this one only up to the
// next fault's start (chaos seed 4: a follower's kill was charged with the
// 2.2 s stall of the leader cut that followed it).
func TestStallBeforeTheNextFault(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c := &consumed{}
	for _, s := range []float64{0, 1, 1.2, 5.9, 9, 9.1} {
		c.arrival = append(c.arrival, at(s))
	}
	if got, _ := c.stallBefore(at(1), at(5), time.Time{}, at(5)); got != 3800*time.Millisecond {
		t.Errorf("stall %v, want 3.8s (from the last delivery to the next fault)", got)
	}
	if got, _ := c.stallBefore(at(1), at(2), time.Time{}, time.Time{}); got != 4700*time.Millisecond {
		t.Errorf("unclipped stall %v, want 4.7s", got)
	}
	if got, _ := c.stallBefore(at(6), at(7), at(8), at(7)); got != 1*time.Second {
		t.Errorf("open stall %v, want 1s (clipped at the next fault)", got)
	}
}
