package roles

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// readAll returns what a lineReader with limit makes of in: each line, or
// "skip N:SIZE" for a skipped one.
func readAll(t *testing.T, in io.Reader, limit int) []string {
	t.Helper()
	return readAllMode(t, in, limit, longSkip)
}

// readAllMode is readAll with the long-line mode: a split line's pieces
// come as they are, its last followed by "split N:SIZE:PIECES"; a truncated
// line as its first limit bytes followed by "trunc N:SIZE".
func readAllMode(t *testing.T, in io.Reader, limit int, mode longLines) []string {
	t.Helper()
	lr := newLineReader(in, limit, mode)
	var out []string
	for i := 0; i < 1000; i++ { // bounded: the inputs here have fewer lines
		line, long, err := lr.next()
		switch {
		case err == io.EOF:
			return out
		case err != nil:
			return append(out, "error "+err.Error())
		case long != nil && mode == longSplit:
			out = append(out, string(line), "split "+itoa(long.num)+":"+itoa(uint64(long.size))+":"+itoa(uint64(long.pieces)))
		case long != nil && mode == longTruncate:
			out = append(out, string(line), "trunc "+itoa(long.num)+":"+itoa(uint64(long.size)))
		case long != nil:
			out = append(out, "skip "+itoa(long.num)+":"+itoa(uint64(long.size)))
		default:
			out = append(out, string(line))
		}
	}
	t.Fatal("more than 1000 lines")
	return nil
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestLineReader(t *testing.T) {
	chunk := strings.Repeat("c", lineChunk-1) // "\r" ends the first chunk, "\n" starts the next
	for _, tc := range []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"plain", "a\nb\n", 10, []string{"a", "b"}},
		{"crlf and a last line without end", "a\r\nb\r", 10, []string{"a", "b"}},
		{"empty lines", "\n\nx\n", 10, []string{"", "", "x"}},
		{"exactly the limit", "12345\n123456\nok\n", 5, []string{"12345", "skip 2:6", "ok"}},
		{"a long last line", "a\n" + strings.Repeat("y", 100), 10, []string{"a", "skip 2:100"}},
		{"longer than a chunk, kept", strings.Repeat("z", 3*lineChunk) + "\nq\n", 4 * lineChunk, []string{strings.Repeat("z", 3*lineChunk), "q"}},
		{"longer than a chunk, skipped", "p\n" + strings.Repeat("z", 3*lineChunk) + "\r\nq\n", lineChunk, []string{"p", "skip 2:" + itoa(3*lineChunk), "q"}},
		{"crlf across chunks", chunk + "\r\nq\n", 2 * lineChunk, []string{chunk, "q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readAll(t, strings.NewReader(tc.in), tc.limit)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %.80q, want %.80q", got, tc.want)
			}
		})
	}
}

// A read error after some lines: the lines come first, then the error; an
// unfinished line before it is dropped.
func TestLineReaderError(t *testing.T) {
	in := &failingReader{data: strings.NewReader("a\nb\npart"), err: errors.New("boom")}
	got := readAll(t, in, 10)
	if strings.Join(got, "|") != "a|b|error boom" {
		t.Errorf("got %q", got)
	}
}

// Skipping a line far over the limit keeps memory at the limit plus a chunk:
// the line is dropped a chunk at a time, never gathered.
func TestLineReaderSkipsWithBoundedMemory(t *testing.T) {
	const limit = 1000
	lr := newLineReader(io.MultiReader(strings.NewReader(strings.Repeat("x", 8<<20)), strings.NewReader("\nok\n")), limit, longSkip)
	if _, long, err := lr.next(); err != nil || long == nil || long.size != 8<<20 {
		t.Fatalf("first line: %v %v", long, err)
	}
	if c := cap(lr.buf); c > 2*(limit+2) {
		t.Errorf("the reader kept %d bytes for a %d-byte limit", c, limit)
	}
	if line, _, _ := lr.next(); string(line) != "ok" {
		t.Errorf("next line %q", line)
	}
}

func TestLineReaderSplitAndTruncate(t *testing.T) {
	chunk := strings.Repeat("c", lineChunk-1) // "\r" ends the first chunk, "\n" starts the next
	for _, tc := range []struct {
		name  string
		in    string
		limit int
		mode  longLines
		want  []string
	}{
		{"split: short lines untouched", "a\nbb\n", 5, longSplit, []string{"a", "bb"}},
		{"split: exactly the limit", "12345\r\nx\n", 5, longSplit, []string{"12345", "x"}},
		{"split: one over", "123456\nx\n", 5, longSplit, []string{"12345", "6", "split 1:6:2", "x"}},
		{"split: twice the limit", "1234512345\r\nx\n", 5, longSplit, []string{"12345", "12345", "split 1:10:2", "x"}},
		{"split: a long last line without end", "a\n12345678", 5, longSplit, []string{"a", "12345", "678", "split 2:8:2"}},
		{"split: \\r at the end of input", "1234567\r", 5, longSplit, []string{"12345", "67", "split 1:7:2"}},
		{"split: the limit then \\r\\n across chunks", chunk + "\r\nq\n", lineChunk - 1, longSplit, []string{chunk, "q"}},
		{"split: longer than a chunk", strings.Repeat("z", 3*lineChunk) + "\nq\n", lineChunk, longSplit,
			[]string{strings.Repeat("z", lineChunk), strings.Repeat("z", lineChunk), strings.Repeat("z", lineChunk), "split 1:" + itoa(3*lineChunk) + ":3", "q"}},
		{"truncate: one over", "123456\nx\n", 5, longTruncate, []string{"12345", "trunc 1:6", "x"}},
		{"truncate: exactly the limit", "12345\r\n", 5, longTruncate, []string{"12345"}},
		{"truncate: longer than a chunk", "p\n" + strings.Repeat("z", 3*lineChunk) + "\r\nq\n", lineChunk + 3, longTruncate,
			[]string{"p", strings.Repeat("z", lineChunk+3), "trunc 2:" + itoa(3*lineChunk), "q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readAllMode(t, strings.NewReader(tc.in), tc.limit, tc.mode)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %.120q, want %.120q", got, tc.want)
			}
		})
	}
}

// Splitting a line far over the limit holds at most the limit plus a chunk.
func TestLineReaderSplitsWithBoundedMemory(t *testing.T) {
	const limit = 1000
	lr := newLineReader(io.MultiReader(strings.NewReader(strings.Repeat("x", 8<<20)), strings.NewReader("\nok\n")), limit, longSplit)
	var total int
	for i := 0; i < 10000; i++ { // bounded: 8 MiB / 1000 bytes is about 8400 pieces
		line, long, err := lr.next()
		if err != nil {
			t.Fatal(err)
		}
		if len(line) > limit {
			t.Fatalf("piece of %d bytes", len(line))
		}
		total += len(line)
		if c := cap(lr.buf); c > 2*(limit+lineChunk) {
			t.Fatalf("the reader holds %d bytes for a %d-byte limit", c, limit)
		}
		if long != nil {
			break
		}
	}
	if total != 8<<20 {
		t.Fatalf("pieces hold %d bytes, want %d", total, 8<<20)
	}
	if line, _, _ := lr.next(); string(line) != "ok" {
		t.Errorf("next line %q", line)
	}
}

// FuzzLineReader checks every mode against bufio.ScanLines: skip keeps the
// lines within the limit, truncate their prefixes, split their pieces, which
// join back into the line; no piece exceeds the limit.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\nccc\r"), 2)
	f.Add([]byte("12345\r\n123456\n\n"), 5)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		if limit < 1 || limit > 64 || len(in) > 4096 {
			return
		}
		var want []string
		sc := bufio.NewScanner(bytes.NewReader(in))
		for sc.Scan() {
			want = append(want, sc.Text())
		}
		for _, mode := range []longLines{longSkip, longSplit, longTruncate} {
			got := collectLines(t, in, limit, mode)
			var exp []string
			for _, w := range want {
				switch {
				case len(w) <= limit:
					exp = append(exp, w)
				case mode == longSplit, mode == longTruncate && len(w) > limit:
					if mode == longTruncate {
						w = w[:limit]
					}
					exp = append(exp, w)
				}
			}
			if strings.Join(got, "\x00") != strings.Join(exp, "\x00") {
				t.Fatalf("mode %s, limit %d: got %q, want %q", longLinesWords[mode], limit, got, exp)
			}
		}
	})
}

// collectLines reads in with a lineReader and returns its lines, a split
// line's pieces joined (each checked against the limit).
func collectLines(t *testing.T, in []byte, limit int, mode longLines) []string {
	lr := newLineReader(bytes.NewReader(in), limit, mode)
	var out []string
	var cur []byte
	for i := 0; i <= len(in)+1; i++ {
		line, long, err := lr.next()
		if err == io.EOF {
			if len(cur) > 0 {
				t.Fatalf("split line unfinished at EOF: %q", cur)
			}
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(line) > limit {
			t.Fatalf("mode %s: %d bytes over the limit %d", longLinesWords[mode], len(line), limit)
		}
		if line == nil {
			continue
		}
		cur = append(cur, line...)
		if mode == longSplit && long == nil && len(line) == limit && lr.pieces > 0 {
			continue // more pieces of this line follow
		}
		out = append(out, string(cur))
		cur = nil
	}
	t.Fatal("more calls than bytes")
	return nil
}

// Lines share the reader's slabs: each keeps its own bytes however many
// lines follow, empty lines stay lines (not nil, which means skipped), and
// appending to a line cannot overwrite the next.
func TestLineReaderLinesStayTheirOwn(t *testing.T) {
	var in strings.Builder
	const n = 20000 // several slabs and read chunks
	for i := range n {
		if i%7 == 0 {
			in.WriteString("\n")
			continue
		}
		in.WriteString(strings.Repeat(strconv.Itoa(i%10), i%97) + "\n")
	}
	lr := newLineReader(strings.NewReader(in.String()), 1000, longSkip)
	lines := make([][]byte, 0, n)
	for range n + 1 {
		line, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil || line == nil {
			t.Fatalf("line %d: %q, %v", len(lines)+1, line, err)
		}
		lines = append(lines, line)
		if len(lines) >= 2 {
			_ = append(lines[len(lines)-2], 'X') // must not reach the line after it
		}
	}
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for i, line := range lines {
		want := ""
		if i%7 != 0 {
			want = strings.Repeat(strconv.Itoa(i%10), i%97)
		}
		if string(line) != want {
			t.Fatalf("line %d is %.40q, want %.40q", i+1, line, want)
		}
	}
}

// The feed's slabs are reused only once every line in them is acknowledged:
// lines not yet acknowledged keep their bytes however many lines follow, a
// slab comes back after its lines are, and none is allocated while one is
// free.
func TestAckedSlabsReuseOnlyAcknowledged(t *testing.T) {
	const n = 5000 // lines of 100 bytes: several 64 KiB slabs
	var in bytes.Buffer
	want := make([]string, n)
	for i := range want {
		want[i] = strings.Repeat(strconv.Itoa(i%10), 99) + strconv.Itoa(i%7)
		in.WriteString(want[i] + "\n")
	}
	var acked, lines uint64
	slabs := &ackedSlabs{acked: func() uint64 { return acked }, lines: &lines, base: 0}
	lr := newLineReader(&in, 1000, longSkip)
	lr.slabs = slabs
	got := make([][]byte, 0, n)
	firstSlab := func(b []byte) *byte { return &b[:1][0] }
	seen := map[*byte]bool{}
	reused := 0
	for i := 0; i < n; i++ {
		line, _, err := lr.next()
		if err != nil {
			t.Fatal(err)
		}
		if len(lr.slab) == len(line) { // the line opened a slab
			if seen[firstSlab(lr.slab)] {
				reused++
			}
			seen[firstSlab(lr.slab)] = true
		}
		got = append(got, line)
		lines++
		// Acknowledge in order, lagging 1500 lines behind.
		if lines > 1500 {
			acked = lines - 1500
		}
		for j := acked; j < lines; j++ { // every unacknowledged line is intact
			if string(got[j]) != want[j] {
				t.Fatalf("after %d lines, %d acknowledged: line %d is %.20q..., want %.20q...", lines, acked, j, got[j], want[j])
			}
		}
	}
	if reused == 0 {
		t.Fatalf("no slab was reused in %d lines with at most 1500 unacknowledged", n)
	}
	if len(seen) > 5 { // 1500 lines of 100 bytes span 3 slabs, plus the one filling
		t.Fatalf("%d slabs allocated for %d lines, 1500 unacknowledged at most", len(seen), n)
	}
}
