package topiclog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// syncBuffer collects log output from the code under test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// writeFixture creates topic "x" with n records in a single segment and
// returns the topic directory and the end position of every record.
func writeFixture(t *testing.T, n int) (dir string, ends []int64) {
	t.Helper()
	root := t.TempDir()
	s := openStore(t, root, testOpts(t))
	l := topic(t, s, "x")
	pos := int64(0)
	for i := 0; i < n; i++ {
		recs := genBatch(uint64(i), 1)
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		pos += int64(len(appendEntry(nil, &recs[0])))
		ends = append(ends, pos)
	}
	mustClose(t, s)
	return filepath.Join(root, "x"), ends
}

// reopenDamaged copies the fixture, lets damage modify the copy's segment
// file, reopens it and returns the log and the collected log output.
func reopenDamaged(t *testing.T, src string, damage func(path string)) (*Store, *Log, *syncBuffer) {
	t.Helper()
	root := t.TempDir()
	copyDir(t, src, filepath.Join(root, "x"))
	damage(segPath(filepath.Join(root, "x"), 0, logExt))
	out := &syncBuffer{}
	opts := Options{Logger: zerolog.New(out)}
	s, err := OpenStore(root, opts)
	if err != nil {
		t.Fatalf("OpenStore after damage: %v", err)
	}
	return s, topic(t, s, "x"), out
}

// expectPrefix checks the log holds exactly records [0, n) and still works.
func expectPrefix(t *testing.T, s *Store, l *Log, n uint64) {
	t.Helper()
	if l.NextOffset() != n {
		t.Fatalf("NextOffset %d, want %d", l.NextOffset(), n)
	}
	readAll(t, l, 0, 0, 0)
	appendN(t, l, 3, 3)
	readAll(t, l, 0, 0, 0)
	// The repaired log must reopen cleanly, without another warning.
	dir := filepath.Dir(l.dir)
	mustClose(t, s)
	out := &syncBuffer{}
	s2, err := OpenStore(dir, Options{Logger: zerolog.New(out)})
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, s2)
	l2 := topic(t, s2, "x")
	if l2.NextOffset() != n+3 {
		t.Fatalf("second reopen NextOffset %d, want %d", l2.NextOffset(), n+3)
	}
	readAll(t, l2, 0, 0, 0)
	if got := out.lines(); len(got) != 1 || got[0] != "" {
		t.Fatalf("second reopen logged %q", got)
	}
}

func TestTornTailEveryByte(t *testing.T) {
	const n = 120 // ~9 KiB: the index has points inside the data
	src, ends := writeFixture(t, n)
	for cut := ends[n-5]; cut < ends[n-1]; cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			s, l, out := reopenDamaged(t, src, func(p string) {
				if err := os.Truncate(p, cut); err != nil {
					t.Fatal(err)
				}
			})
			complete := uint64(0)
			for complete < n && ends[complete] <= cut {
				complete++
			}
			lines := out.lines()
			torn := cut != ends[complete-1]
			if torn {
				if len(lines) != 1 {
					t.Fatalf("want one warning, got %q", lines)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
					t.Fatal(err)
				}
				if m["level"] != "warn" || m["topic"] != "x" || m["segment"] != segFile(&segment{}) ||
					m["bytes_dropped"] != float64(cut-ends[complete-1]) {
					t.Fatalf("warning %s", lines[0])
				}
			} else if lines[0] != "" {
				t.Fatalf("clean cut logged %q", lines)
			}
			expectPrefix(t, s, l, complete)
		})
	}
}

// A flipped byte in a record followed by intact ones cuts that record out
// (one error line naming it); in the last record it is a torn tail, cut off
// as before (one warning).
func TestFlippedByte(t *testing.T) {
	const n = 120
	src, ends := writeFixture(t, n)
	for pos := ends[n-4]; pos < ends[n-1]; pos += 3 {
		t.Run(fmt.Sprint(pos), func(t *testing.T) {
			s, l, out := reopenDamaged(t, src, func(p string) {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				b[pos] ^= 0x20
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			})
			hit := uint64(0)
			for ends[hit] <= pos {
				hit++
			}
			lines := out.lines()
			if hit == n-1 {
				if len(lines) != 1 || !strings.Contains(lines[0], "bytes_dropped") {
					t.Fatalf("want one torn-tail warning, got %q", lines)
				}
				expectPrefix(t, s, l, hit)
				return
			}
			defer mustClose(t, s)
			if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf(`"from":%d,"to":%d`, hit, hit+1)) {
				t.Fatalf("want one line reporting offsets [%d, %d), got %q", hit, hit+1, lines)
			}
			expectHoles(t, l, n, [][2]uint64{{hit, hit + 1}})
		})
	}
}

func TestIndexRebuilt(t *testing.T) {
	root := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 20000
	s := openStore(t, root, opts)
	appendN(t, topic(t, s, "x"), 2000, 100)
	mustClose(t, s)
	dir := filepath.Join(root, "x")
	idxs := segFiles(t, dir, idxExt)
	orig := map[string][]byte{}
	for _, p := range idxs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2*indexEntrySize {
			t.Fatalf("%s has %d bytes: index not sparse-but-present", p, len(b))
		}
		orig[p] = b
	}
	damages := map[string]func(p string){
		"missing": func(p string) { os.Remove(p) },
		"garbage": func(p string) { os.WriteFile(p, bytes.Repeat([]byte{0xA5}, 100), 0o644) },
		"short":   func(p string) { os.Truncate(p, int64(len(orig[p])-5)) },
		"empty":   func(p string) { os.Truncate(p, 0) },
		"huge":    func(p string) { os.WriteFile(p, append(orig[p], make([]byte, 1<<20)...), 0o644) },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			for _, p := range idxs {
				damage(p)
			}
			s := openStore(t, root, opts)
			l := topic(t, s, "x")
			readAll(t, l, 0, 0, 0)
			if got := l.OffsetForTime(1500 * 1000); got != 1500 {
				t.Fatalf("OffsetForTime %d", got)
			}
			mustClose(t, s)
			for _, p := range idxs {
				b, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(b, orig[p]) {
					t.Fatalf("%s not rebuilt identically (%d vs %d bytes, %v)", p, len(b), len(orig[p]), err)
				}
			}
		})
	}
}

// A truncation that crashed between cutting a segment and unlinking the
// later ones (the cut segment ends cleanly short of the next) is finished
// at open: the later segments go, so no truncated record comes back.
func TestInterruptedTruncationFinished(t *testing.T) {
	root := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 2000
	s := openStore(t, root, opts)
	appendN(t, topic(t, s, "x"), 300, 10)
	mustClose(t, s)
	dir := filepath.Join(root, "x")
	logs := segFiles(t, dir, logExt)
	if len(logs) < 4 {
		t.Fatalf("only %d segments", len(logs))
	}
	// Cut segment 1 after its 5th record, as truncateLocked would.
	b, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	base1, _ := parseSegName(filepath.Base(logs[1]))
	cut := 0
	for i := 0; i < 5; i++ {
		r := genRecord(base1 + uint64(i))
		r.Offset = base1 + uint64(i)
		cut += len(appendEntry(nil, &r))
	}
	if err := os.WriteFile(logs[1], b[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, root, opts)
	defer mustClose(t, s)
	l := topic(t, s, "x")
	if l.NextOffset() != base1+5 {
		t.Fatalf("NextOffset %d, want %d", l.NextOffset(), base1+5)
	}
	if n := len(segFiles(t, dir, logExt)); n != 2 {
		t.Fatalf("%d segments remain, want 2", n)
	}
	if d := l.Damaged(); len(d) != 0 {
		t.Fatalf("a clean cut reported as damage: %v", d)
	}
	readAll(t, l, 0, 0, 0)
	appendN(t, l, 50, 7)
	readAll(t, l, 0, 0, 0)
}
