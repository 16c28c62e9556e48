package ctl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTailOffset(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 200<<10) // longer than one read chunk
	cases := []struct {
		content string
		n       int
		want    string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc\n", 0, ""},
		{"", 5, ""},
		{"\n\n\n", 2, "\n\n"},
		{"first\n" + long + "\nlast\n", 2, long + "\nlast\n"},
	}
	for i, c := range cases {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		off, err := tailOffset(f, c.n)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.content[off:]; got != c.want {
			t.Errorf("case %d: got %q, want %q", i, trunc(got), trunc(c.want))
		}
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-20:]
	}
	return s
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestFollowTruncationAndRotation: follow keeps going when the log is
// truncated in place and when it is rotated (renamed, new file created).
func TestFollowTruncationAndRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.log")
	appendFile(t, p, "old line\n")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- followFile(ctx, p, f, 9, out, time.Millisecond) }()

	appendFile(t, p, "one\n")
	out.waitFor(t, "one\n", 10*time.Second)

	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	// Like tail -f, follow detects truncation by the size shrinking below
	// what it has read (13 bytes), so the new content is kept shorter than
	// that; whether a poll sees the empty file or this, it starts over.
	appendFile(t, p, "trunc\n")
	out.waitFor(t, "trunc\n", 10*time.Second)

	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p+".1", "late write to old\n")
	appendFile(t, p, "rotated new file\n")
	out.waitFor(t, "rotated new file\n", 10*time.Second)
	appendFile(t, p, "more\n")
	out.waitFor(t, "more\n", 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "old line") {
		t.Errorf("printed content before the start offset: %q", out.String())
	}
}
