package topiclog

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// resetFixture is a closed store directory whose topic "r" holds [0, 300)
// in several small segments, with a meta blob.
func resetFixture(t *testing.T) (dir string, opts Options) {
	t.Helper()
	dir = t.TempDir()
	opts = testOpts(t)
	opts.SegmentBytes = 2048
	s := openStore(t, dir, opts)
	l := topic(t, s, "r")
	appendN(t, l, 300, 17)
	if err := l.SetMeta([]byte("history")); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, filepath.Join(dir, "r"), logExt)); n < 3 {
		t.Fatalf("fixture has %d segments, want several", n)
	}
	mustClose(t, s)
	return dir, opts
}

// checkEmptyAt reopens the store and checks that "r" is empty at base, keeps
// its meta, has one segment and takes appends from base on.
func checkEmptyAt(t *testing.T, dir string, opts Options, base uint64) {
	t.Helper()
	s := openStore(t, dir, opts)
	defer mustClose(t, s)
	l := topic(t, s, "r")
	if l.StartOffset() != base || l.NextOffset() != base {
		t.Fatalf("reopened as [%d, %d), want empty at %d", l.StartOffset(), l.NextOffset(), base)
	}
	if string(l.Meta()) != "history" {
		t.Fatalf("meta %q lost", l.Meta())
	}
	for _, f := range []string{resetFile, resetTmpFile} {
		if _, err := os.Stat(filepath.Join(dir, "r", f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", f, err)
		}
	}
	if n := len(segFiles(t, filepath.Join(dir, "r"), logExt)); n != 1 {
		t.Fatalf("%d segments after reset", n)
	}
	appendN(t, l, 40, 7)
	readAll(t, l, base, 0, 0)
}

func TestReset(t *testing.T) {
	dir, opts := resetFixture(t)
	s := openStore(t, dir, opts)
	l := topic(t, s, "r")

	err := l.Reset(299)
	var oe *OffsetError
	if !errors.As(err, &oe) || oe.Start != 0 || oe.Next != 300 {
		t.Fatalf("Reset backwards: %v", err)
	}
	if l.NextOffset() != 300 {
		t.Fatalf("refused Reset changed the log: next %d", l.NextOffset())
	}

	if err := l.Reset(1000); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 1000 || l.NextOffset() != 1000 {
		t.Fatalf("after Reset(1000): [%d, %d)", l.StartOffset(), l.NextOffset())
	}
	if _, err := l.Read(500, 1, 0); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below the reset: %v", err)
	}
	if err := l.Reset(1000); err != nil { // already there: a no-op
		t.Fatal(err)
	}
	mustClose(t, s)
	checkEmptyAt(t, dir, opts, 1000)

	// Reset to NextOffset drops the records and keeps the offsets.
	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "r")
	if err := l.Reset(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 1040 || l.NextOffset() != 1040 {
		t.Fatalf("after Reset(next): [%d, %d)", l.StartOffset(), l.NextOffset())
	}
	mustClose(t, s)
	if err := l.Reset(2000); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset after Close: %v", err)
	}
}

// TestResetCrash builds the directory states a crash can leave during a
// reset to 1000 and checks that each reopens before or after it.
func TestResetCrash(t *testing.T) {
	marker := func(t *testing.T, td string) {
		if err := os.WriteFile(filepath.Join(td, resetFile), []byte("1000\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		after bool
		crash func(t *testing.T, td string)
	}{
		{"temp marker only", false, func(t *testing.T, td string) {
			os.WriteFile(filepath.Join(td, resetTmpFile), []byte("10"), 0o644)
		}},
		{"marker committed", true, marker},
		{"some segments removed", true, func(t *testing.T, td string) {
			marker(t, td)
			logs := segFiles(t, td, logExt)
			os.Remove(logs[0])
			os.Remove(logs[len(logs)-1])
		}},
		{"all removed, new segment not created", true, func(t *testing.T, td string) {
			marker(t, td)
			for _, f := range append(segFiles(t, td, logExt), segFiles(t, td, idxExt)...) {
				os.Remove(f)
			}
		}},
		{"new segment created, marker not removed", true, func(t *testing.T, td string) {
			marker(t, td)
			for _, f := range append(segFiles(t, td, logExt), segFiles(t, td, idxExt)...) {
				os.Remove(f)
			}
			os.WriteFile(segPath(td, 1000, logExt), nil, 0o644)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, opts := resetFixture(t)
			c.crash(t, filepath.Join(dir, "r"))
			if c.after {
				checkEmptyAt(t, dir, opts, 1000)
				return
			}
			s := openStore(t, dir, opts)
			defer mustClose(t, s)
			l := topic(t, s, "r")
			if l.StartOffset() != 0 || l.NextOffset() != 300 {
				t.Fatalf("reopened as [%d, %d), want [0, 300)", l.StartOffset(), l.NextOffset())
			}
			readAll(t, l, 0, 0, 0)
		})
	}

	t.Run("corrupt marker", func(t *testing.T) {
		dir, opts := resetFixture(t)
		os.WriteFile(filepath.Join(dir, "r", resetFile), []byte("12x\n"), 0o644)
		if s, err := OpenStore(dir, opts); !errors.Is(err, ErrCorrupt) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("OpenStore with a corrupt reset marker: %v", err)
		}
	})
}

// TruncateTo below the retained start is a reset backwards: crash-safe and
// durable the same way.
func TestTruncateBelowStartReopens(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 2048
	opts.MaxRecords = 50
	s := openStore(t, dir, opts)
	l := topic(t, s, "r")
	appendN(t, l, 500, 10)
	if l.StartOffset() < 200 {
		t.Fatalf("retention kept from %d", l.StartOffset())
	}
	if err := l.TruncateTo(120); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta([]byte("history")); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	checkEmptyAt(t, dir, opts, 120)
}

func TestRetentionFloor(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 1024
	opts.MaxRecords = 100
	s := openStore(t, dir, opts)
	l := topic(t, s, "f")
	if err := l.SetRetentionFloor(0); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2000, 25)
	if l.StartOffset() != 0 {
		t.Fatalf("retention trimmed to %d below a floor of 0", l.StartOffset())
	}
	if err := l.SetRetentionFloor(700); err != nil {
		t.Fatal(err)
	}
	if start := l.StartOffset(); start == 0 || start > 700 {
		t.Fatalf("floor 700: start %d, want in (0, 700]", start)
	}
	readAll(t, l, l.StartOffset(), 0, 0)
	mustClose(t, s)

	// A reopened log applies no retention until told its floor or appended to.
	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "f")
	before := l.StartOffset()
	if before == 0 || before > 700 {
		t.Fatalf("reopened with start %d", before)
	}
	if err := l.SetRetentionFloor(math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if start := l.StartOffset(); start <= 700 || start > 2000-100 {
		t.Fatalf("no floor: start %d, want in (700, 1900]", start)
	}
	readAll(t, l, l.StartOffset(), 0, 0)
}

// FuzzParseResetMarker: a marker decodes to an error or to an offset whose
// encoding is the marker.
func FuzzParseResetMarker(f *testing.F) {
	for _, s := range []string{"1000\n", "0\n", "18446744073709551615\n", "", "12x\n", "007\n", "5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		base, err := parseResetMarker(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if got := strconv.FormatUint(base, 10) + "\n"; got != string(b) {
			t.Fatalf("%q decoded to %d", b, base)
		}
	})
}
