package analytics

import (
	"math"
	"testing"
	"unicode/utf8"
)

func TestSparkline(t *testing.T) {
	tests := []struct {
		values []uint32
		width  int
		want   string
	}{
		{nil, 10, ""},
		{[]uint32{}, 0, ""},
		{[]uint32{0, 0, 0}, 0, "▁▁▁"},
		{[]uint32{1, 2, 3, 4, 5, 6, 7, 8}, 0, "▁▂▃▄▅▆▇█"},
		{[]uint32{0, 8, 4}, 3, "▁█▄"},
		{[]uint32{1, 100}, 0, "▁█"},
		{[]uint32{math.MaxUint32, 0, math.MaxUint32 / 2}, 0, "█▁▄"},
		// Narrowing keeps the maximum of each group.
		{[]uint32{0, 0, 8, 0, 0, 0, 4, 0}, 4, "▁█▁▄"},
		{[]uint32{1, 2, 3, 4, 5, 6, 7, 8}, 2, "▄█"},
		// Widening repeats.
		{[]uint32{4, 8}, 4, "▄▄██"},
		{[]uint32{8}, 3, "███"},
	}
	for _, tt := range tests {
		if got := Sparkline(tt.values, tt.width); got != tt.want {
			t.Errorf("Sparkline(%v, %d) = %q; want %q", tt.values, tt.width, got, tt.want)
		}
	}
	if n := utf8.RuneCountInString(Sparkline([]uint32{1, 2}, 1<<30)); n != maxSparkWidth {
		t.Errorf("huge width drew %d cells; want %d", n, maxSparkWidth)
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0/s"},
		{-3, "0.0/s"},
		{math.NaN(), "0.0/s"},
		{math.Inf(1), "+Inf/s"},
		{0.1, "0.10/s"},
		{0.04, "0.04/s"},
		{5, "5.0/s"},
		{999.9, "999.9/s"},
		{999.96, "1.0k/s"},
		{12345, "12.3k/s"},
		{4.5e6, "4.5M/s"},
		{2e18, "2000000.0T/s"},
	}
	for _, tt := range tests {
		if got := FormatRate(tt.in); got != tt.want {
			t.Errorf("FormatRate(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0 B/s"},
		{512, "512.0 B/s"},
		{1234, "1.2 kB/s"},
		{1.2e6, "1.2 MB/s"},
		{3.5e9, "3.5 GB/s"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.in); got != tt.want {
			t.Errorf("FormatBytes(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
