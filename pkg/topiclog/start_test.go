package topiclog

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// MaxRecords is a record limit, not a segment one: with every record in the
// active segment, a reader from the start gets exactly the newest
// MaxRecords, and the start survives a restart.
func TestRetentionExactRecords(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.MaxRecords = 100
	s := openStore(t, dir, opts)
	l := topic(t, s, "r")
	appendN(t, l, 500, 7)
	if start := l.StartOffset(); start != 400 {
		t.Fatalf("StartOffset %d after 500 records with MaxRecords 100, want 400", start)
	}
	var oe *OffsetError
	if _, err := l.Read(399, 0, 0); !errors.As(err, &oe) || oe.Start != 400 {
		t.Fatalf("Read(399): %v, want an OffsetError starting at 400", err)
	}
	if got := readAll(t, l, 400, 0, 0); len(got) != 100 {
		t.Fatalf("read %d records from the start, want 100", len(got))
	}
	if got := l.OffsetForTime(math.MinInt64); got != 400 {
		t.Fatalf("OffsetForTime(min) %d, want 400", got)
	}
	mustClose(t, s)

	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "r")
	if start, next := l.StartOffset(), l.NextOffset(); start != 400 || next != 500 {
		t.Fatalf("reopened [%d, %d), want [400, 500)", start, next)
	}
	appendN(t, l, 1, 1)
	if start := l.StartOffset(); start != 401 {
		t.Fatalf("StartOffset %d after one more record, want 401", start)
	}
}

// The floor (a cluster's commit point) wins over MaxRecords, record by
// record; MaxRecords 0 trims nothing.
func TestRetentionExactFloor(t *testing.T) {
	opts := testOpts(t)
	opts.MaxRecords = 100
	s := openStore(t, t.TempDir(), opts)
	defer mustClose(t, s)
	l := topic(t, s, "f")
	if err := l.SetRetentionFloor(0); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 500, 50)
	if start := l.StartOffset(); start != 0 {
		t.Fatalf("start %d above a floor of 0", start)
	}
	for _, c := range []struct{ floor, want uint64 }{{350, 350}, {10, 350}, {math.MaxUint64, 400}} {
		if err := l.SetRetentionFloor(c.floor); err != nil {
			t.Fatal(err)
		}
		if start := l.StartOffset(); start != c.want {
			t.Fatalf("floor %d: start %d, want %d", c.floor, start, c.want)
		}
	}
	readAll(t, l, 400, 0, 0)

	opts.MaxRecords = 0
	s2 := openStore(t, t.TempDir(), opts)
	defer mustClose(t, s2)
	u := topic(t, s2, "u")
	appendN(t, u, 500, 50)
	if start := u.StartOffset(); start != 0 {
		t.Fatalf("unlimited retention moved the start to %d", start)
	}
}

// A reset (or a truncation below the start) starts the log afresh: the old
// start must not come back at the next open, once the new records pass it.
func TestResetForgetsStart(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.MaxRecords = 100
	s := openStore(t, dir, opts)
	l := topic(t, s, "r")
	appendN(t, l, 300, 10) // start 200
	if err := l.TruncateTo(150); err != nil {
		t.Fatal(err)
	}
	if start, next := l.StartOffset(), l.NextOffset(); start != 150 || next != 150 {
		t.Fatalf("after TruncateTo(150): [%d, %d)", start, next)
	}
	appendN(t, l, 60, 10) // [150, 210): under MaxRecords, all kept
	mustClose(t, s)
	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "r")
	if start, next := l.StartOffset(), l.NextOffset(); start != 150 || next != 210 {
		t.Fatalf("reopened [%d, %d), want [150, 210)", start, next)
	}
	readAll(t, l, 150, 0, 0)
}

// A damaged start file is ignored: the log shows more old records, never
// fewer.
func TestDamagedStartFile(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.MaxRecords = 100
	s := openStore(t, dir, opts)
	appendN(t, topic(t, s, "r"), 500, 10)
	mustClose(t, s)
	p := filepath.Join(dir, "r", startFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[5] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	if start := topic(t, s, "r").StartOffset(); start != 0 {
		t.Fatalf("start %d from a damaged start file, want the first segment's 0", start)
	}
}

// FuzzParseStart: a start file decodes to an error or to an offset whose
// encoding is the file.
func FuzzParseStart(f *testing.F) {
	f.Add(encodeStart(0))
	f.Add(encodeStart(400))
	f.Add(encodeStart(math.MaxUint64))
	f.Add([]byte("LSSO"))
	f.Fuzz(func(t *testing.T, b []byte) {
		start, err := parseStart(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if got := encodeStart(start); string(got) != string(b) {
			t.Fatalf("%x decoded to %d", b, start)
		}
	})
}
