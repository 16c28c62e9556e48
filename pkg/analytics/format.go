package analytics

import (
	"math"
	"strconv"
	"strings"
)

// sparkRunes are the eight block heights of a sparkline, lowest first.
var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// maxSparkWidth bounds the string Sparkline builds, whatever width asks for.
const maxSparkWidth = 4096

// Sparkline draws values as a row of block characters scaled to the largest
// value, which gets a full block; zero gets the lowest block, so the row
// keeps its width. width resamples the values: when narrowing, each cell
// shows the maximum of the values it covers (a one-bucket burst stays
// visible); when widening, values repeat. width <= 0 draws one cell per
// value. No values gives "".
func Sparkline(values []uint32, width int) string {
	if len(values) == 0 {
		return ""
	}
	if width <= 0 {
		width = len(values)
	}
	width = min(width, maxSparkWidth)

	cells := make([]uint32, width)
	var peak uint32
	for i := range cells {
		lo := i * len(values) / width
		hi := max((i+1)*len(values)/width, lo+1)
		for _, v := range values[lo:hi] {
			cells[i] = max(cells[i], v)
		}
		peak = max(peak, cells[i])
	}

	var sb strings.Builder
	sb.Grow(width * len(string(sparkRunes[0])))
	for _, v := range cells {
		level := 0
		if v > 0 {
			// ceil(8v/peak)-1 puts any non-zero value at level >= 0
			// and only the peak at the top level.
			level = int((uint64(v)*8+uint64(peak)-1)/uint64(peak)) - 1
		}
		sb.WriteRune(sparkRunes[level])
	}
	return sb.String()
}

// FormatRate renders records per second compactly: "0.25/s", "5.0/s",
// "12.3k/s", "4.5M/s". Negative or NaN rates render as zero.
func FormatRate(perSec float64) string {
	return scaled(perSec, 1000, []string{"/s", "k/s", "M/s", "G/s", "T/s"})
}

// FormatBytes renders bytes per second with SI (powers of 1000) units:
// "512.0 B/s", "1.2 MB/s". Negative or NaN rates render as zero.
func FormatBytes(perSec float64) string {
	return scaled(perSec, 1000, []string{" B/s", " kB/s", " MB/s", " GB/s", " TB/s"})
}

// scaled prints v with one decimal in the largest unit that keeps it below
// base (two decimals below 1, so slow streams such as one record every ten
// seconds do not print as zero).
func scaled(v, base float64, units []string) string {
	if !(v > 0) { // negative, zero or NaN
		v = 0
	}
	if math.IsInf(v, 1) {
		return "+Inf" + units[0]
	}
	u := 0
	// Compare the rounded value, so 999.96 prints as "1.0k" not "1000.0".
	for u < len(units)-1 && math.Round(v*10)/10 >= base {
		v /= base
		u++
	}
	prec := 1
	if u == 0 && v > 0 && v < 1 {
		prec = 2
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + units[u]
}
