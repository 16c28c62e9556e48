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
