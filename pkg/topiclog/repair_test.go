package topiclog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/record"
	"github.com/rs/zerolog"
)

// recsFor is what a replica sends for [from, to): the records as written,
// with their offsets.
func recsFor(from, to uint64) []record.Record {
	recs := genBatch(from, int(to-from))
	for i := range recs {
		recs[i].Offset = from + uint64(i)
	}
	return recs
}

// mustRepair repairs [from, to) with the records as written.
func mustRepair(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	if err := l.RepairRange(recsFor(from, to)); err != nil {
		t.Fatalf("RepairRange [%d, %d): %v", from, to, err)
	}
}

// checkHoles checks Holes lists exactly want and that the log reads every
// other offset of [StartOffset, NextOffset), intact and in order.
func checkHoles(t *testing.T, l *Log, want ...Range) {
	t.Helper()
	got := l.Holes()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Holes %v, want %v", got, want)
	}
	var offs []uint64
	for off := l.StartOffset(); off < l.NextOffset(); off++ {
		if !slicesContainsOffset(want, off) {
			offs = append(offs, off)
		}
	}
	if got := readSkipping(t, l, l.StartOffset()); fmt.Sprint(got) != fmt.Sprint(offs) {
		t.Fatalf("read offsets %v\nwant %v", got, offs)
	}
}

func slicesContainsOffset(rs []Range, off uint64) bool {
	for _, r := range rs {
		if off >= r.From && off < r.To {
			return true
		}
	}
	return false
}

// reopen closes s and opens the store again, returning the log "x" and the
// output of the open.
func reopen(t *testing.T, s *Store, l *Log, opts Options) (*Store, *Log, *syncBuffer) {
	t.Helper()
	root := filepath.Dir(l.dir)
	mustClose(t, s)
	out := &syncBuffer{}
	opts.Logger = zerolog.New(out)
	s = openStore(t, root, opts)
	return s, topic(t, s, "x"), out
}

// A whole damaged range written back: every record reads again, batches
// run through the former hole, Holes is empty, the report is marked, and
// a restart finds no damage at all.
func TestRepairWhole(t *testing.T) {
	const n = 3000
	src, ends := writeFixture(t, n)
	pos := ends[n/2] + 37
	s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, pos, 512, 1) })
	lost := hit(ends, pos, 512)
	checkHoles(t, l, Range{lost[0], lost[1]})

	mustRepair(t, l, lost[0], lost[1])
	checkHoles(t, l)
	readAll(t, l, 0, 0, 0)
	if recs, err := l.Read(lost[0]-1, 100, 0); err != nil || len(recs) != 100 {
		t.Fatalf("a batch from just before the repaired range: %d records, %v", len(recs), err)
	}
	d := l.Damaged()
	if len(d) != 1 || d[0].Repaired != d[0].Lost() || d[0].Action != actionRepaired || !strings.Contains(d[0].String(), "repaired") {
		t.Fatalf("damage after repair: %v", d)
	}

	s, l, out := reopen(t, s, l, Options{})
	defer mustClose(t, s)
	if got := out.lines(); len(got) != 1 || got[0] != "" {
		t.Fatalf("reopen after repair logged %q", got)
	}
	if d := l.Damaged(); len(d) != 0 {
		t.Fatalf("damage after reopen: %v", d)
	}
	checkHoles(t, l)
	appendN(t, l, 10, 3)
	readAll(t, l, 0, 0, 0)
}

// Parts of a hole: a prefix, a suffix and a middle part, each leaving the
// rest of the hole listed and skipped, across restarts, until it is whole.
func TestRepairPartial(t *testing.T) {
	const n = 3000
	src, ends := writeFixture(t, n)
	pos := ends[1000] + 11
	lost := hit(ends, pos, 3000)
	if lost[1]-lost[0] < 20 {
		t.Fatalf("damage hit only %v", lost)
	}
	a, b := lost[0], lost[1]
	for _, tc := range []struct {
		name  string
		steps [][2]uint64 // repaired in this order
	}{
		{"prefix-then-rest", [][2]uint64{{a, a + 5}, {a + 5, b}}},
		{"suffix-then-rest", [][2]uint64{{b - 5, b}, {a, b - 5}}},
		{"middle-then-sides", [][2]uint64{{a + 5, a + 9}, {a, a + 1}, {b - 1, b}, {a + 9, b - 1}, {a + 1, a + 5}}},
		{"one-by-one", func() (st [][2]uint64) {
			for o := a; o < b; o += 2 {
				st = append(st, [2]uint64{o, o + 1})
			}
			for o := a + 1; o < b; o += 2 {
				st = append(st, [2]uint64{o, o + 1})
			}
			return st
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, pos, 3000, 9) })
			holes := []Range{{a, b}}
			for i, st := range tc.steps {
				mustRepair(t, l, st[0], st[1])
				holes = subtract(holes, Range{st[0], st[1]})
				checkHoles(t, l, holes...)
				if i == 0 || i == len(tc.steps)-2 {
					s, l, _ = reopen(t, s, l, Options{})
					checkHoles(t, l, holes...)
					var dl [][2]uint64
					for _, h := range holes {
						dl = append(dl, [2]uint64{h.From, h.To})
					}
					checkDamageList(t, l, dl)
				}
			}
			readAll(t, l, 0, 0, 0)
			mustClose(t, s)
		})
	}
}

// subtract returns rs without r.
func subtract(rs []Range, r Range) []Range {
	var out []Range
	for _, x := range rs {
		if r.To <= x.From || x.To <= r.From {
			out = append(out, x)
			continue
		}
		if x.From < r.From {
			out = append(out, Range{x.From, r.From})
		}
		if r.To < x.To {
			out = append(out, Range{r.To, x.To})
		}
	}
	return out
}

// A partial repair is reported as such in Damaged.
func TestRepairDamageReport(t *testing.T) {
	const n = 400
	src, ends := writeFixture(t, n)
	s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, ends[100]+5, 700, 7) })
	defer mustClose(t, s)
	lost := hit(ends, ends[100]+5, 700)
	mustRepair(t, l, lost[0], lost[0]+2)
	d := l.Damaged()
	if len(d) != 1 || d[0].Repaired != 2 || d[0].Lost() != lost[1]-lost[0] ||
		!strings.Contains(d[0].Action, fmt.Sprintf("2 of %d", lost[1]-lost[0])) {
		t.Fatalf("damage after partial repair: %v", d)
	}
	mustRepair(t, l, lost[0]+2, lost[1])
	if d := l.Damaged(); d[0].Repaired != d[0].Lost() || d[0].Action != actionRepaired {
		t.Fatalf("damage after full repair: %v", d)
	}
}

// Invalid repairs are refused with ErrRepair (or the record check's error)
// and change nothing, on disk or in memory.
func TestRepairRefused(t *testing.T) {
	const n = 600
	src, ends := writeFixture(t, n)
	root := t.TempDir()
	dir := filepath.Join(root, "x")
	copyDir(t, src, dir)
	p := segPath(dir, 0, logExt)
	overwrite(t, p, ends[100]+5, 300, 3)
	overwrite(t, p, ends[400]+5, 300, 4)
	lost1, lost2 := hit(ends, ends[100]+5, 300), hit(ends, ends[400]+5, 300)
	opts := testOpts(t)
	opts.MaxRecords = int64(n - 200) // the start moves past the first hole
	s := openStore(t, root, opts)
	l := topic(t, s, "x")
	defer func() { mustClose(t, s) }()
	if err := l.SetRetentionFloor(^uint64(0)); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 200 {
		t.Fatalf("start %d", l.StartOffset())
	}
	h := Range{lost2[0], lost2[1]}
	checkHoles(t, l, h)
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	big := recsFor(h.From, h.From+1)
	big[0].Payload = make([]byte, MaxEntryBytes+1)
	gap := recsFor(h.From, h.From+3)
	gap[2].Offset++
	for _, tc := range []struct {
		name string
		recs []record.Record
		is   error
	}{
		{"intact offsets", recsFor(300, 302), ErrRepair},
		{"straddles the start of the hole", recsFor(h.From-1, h.From+1), ErrRepair},
		{"straddles the end of the hole", recsFor(h.To-1, h.To+1), ErrRepair},
		{"hole and more", recsFor(h.From, h.To+1), ErrRepair},
		{"not contiguous", gap, ErrRepair},
		{"below the start offset", recsFor(lost1[0], lost1[1]), ErrRepair},
		{"past the end", recsFor(n, n+1), ErrRepair},
		{"offset overflow", []record.Record{{Offset: ^uint64(0)}, {Offset: 0}}, ErrRepair},
		{"record too large", big, nil},
	} {
		err := l.RepairRange(tc.recs)
		if err == nil || tc.is != nil && !errors.Is(err, tc.is) {
			t.Fatalf("%s: RepairRange returned %v, want %v", tc.name, err, tc.is)
		}
		checkHoles(t, l, h)
		after, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatalf("%s: the segment changed", tc.name)
		}
		if m := segFiles(t, dir, repairExt); len(m) != 0 {
			t.Fatalf("%s: left %v", tc.name, m)
		}
	}
	if err := l.RepairRange(nil); err != nil {
		t.Fatalf("empty repair: %v", err)
	}
	mustRepair(t, l, h.From, h.To)
	if err := l.RepairRange(recsFor(h.From, h.To)); !errors.Is(err, ErrRepair) {
		t.Fatalf("repairing twice: %v", err)
	}
	checkHoles(t, l)
	mustClose(t, s)
	if err := l.RepairRange(recsFor(h.From, h.To)); !errors.Is(err, ErrClosed) {
		t.Fatalf("repair of a closed log: %v", err)
	}
	if l.Holes() != nil {
		t.Fatal("a closed log lists holes")
	}
}
