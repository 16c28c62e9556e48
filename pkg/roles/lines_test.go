package roles

import (
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
	lr := newLineReader(in, limit)
	var out []string
	for i := 0; i < 1000; i++ { // bounded: the inputs here have fewer lines
		line, long, err := lr.next()
		switch {
		case err == io.EOF:
			return out
		case err != nil:
			return append(out, "error "+err.Error())
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
	lr := newLineReader(io.MultiReader(strings.NewReader(strings.Repeat("x", 8<<20)), strings.NewReader("\nok\n")), limit)
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
