package topiclog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// A crash at any step of a repair reopens the log either with the hole or
// with the repaired records, never anything else, and without reporting
// index damage. Each step's directory is snapshotted as a process crash
// there would leave it (the fsyncs before each step make the same hold
// for a power cut).
func TestRepairCrash(t *testing.T) {
	const n = 3000
	src, ends := writeFixture(t, n)
	pos := ends[1200] + 3
	lost := hit(ends, pos, 1500)
	for _, part := range [][2]uint64{{lost[0], lost[1]}, {lost[0] + 2, lost[1] - 3}} {
		s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, pos, 1500, 5) })
		snaps := map[string]string{}
		testHookRepair = func(step string) {
			d := filepath.Join(t.TempDir(), "x")
			copyDir(t, l.dir, d)
			snaps[step] = d
		}
		mustRepair(t, l, part[0], part[1])
		testHookRepair = nil
		mustClose(t, s)
		if len(snaps) != 4 {
			t.Fatalf("snapshots of steps %v", snaps)
		}
		// A crash mid-write of the temp file: a torn copy is debris.
		torn := filepath.Join(t.TempDir(), "x")
		copyDir(t, snaps["written"], torn)
		tmp := segPath(torn, 0, logExt) + repairExt
		if err := os.Truncate(tmp, 4000); err != nil {
			t.Fatal(err)
		}
		snaps["torn"] = torn
		repaired := subtract([]Range{{lost[0], lost[1]}}, Range{part[0], part[1]})
		for step, d := range snaps {
			t.Run(fmt.Sprintf("%d-%d/%s", part[0], part[1], step), func(t *testing.T) {
				out := &syncBuffer{}
				s := openStore(t, filepath.Dir(d), Options{Logger: zerolog.New(out)})
				defer mustClose(t, s)
				l := topic(t, s, "x")
				if m := segFiles(t, d, repairExt); len(m) != 0 {
					t.Fatalf("debris left: %v", m)
				}
				for _, dm := range l.Damaged() {
					if dm.Kind != DamageData {
						t.Fatalf("reported %v", dm)
					}
				}
				switch step {
				case "written", "index-cleared", "torn":
					checkHoles(t, l, Range{lost[0], lost[1]})
				default:
					checkHoles(t, l, repaired...)
				}
				appendN(t, l, 5, 5)
				if got := readSkipping(t, l, n); len(got) != 5 {
					t.Fatalf("appended records read back as %v", got)
				}
			})
		}
	}
}

// The damaged tail of an older segment: a prefix repair keeps the damaged
// bytes after the records (the segment must not look as though it simply
// ends there), so the rest stays a hole and the later segments stay.
func TestRepairTailOfOlderSegment(t *testing.T) {
	root := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 2000
	s := openStore(t, root, opts)
	appendN(t, topic(t, s, "x"), 300, 10)
	mustClose(t, s)
	dir := filepath.Join(root, "x")
	logs := segFiles(t, dir, logExt)
	st, err := os.Stat(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	overwrite(t, logs[1], st.Size()-400, 400, 5)
	s = openStore(t, root, opts)
	l := topic(t, s, "x")
	holes := l.Holes()
	if len(holes) != 1 || holes[0].To-holes[0].From < 3 {
		t.Fatalf("holes %v", holes)
	}
	h := holes[0]
	mustRepair(t, l, h.From, h.From+1)
	checkHoles(t, l, Range{h.From + 1, h.To})
	s, l, _ = reopen(t, s, l, opts)
	checkHoles(t, l, Range{h.From + 1, h.To})
	mustRepair(t, l, h.To-1, h.To)
	checkHoles(t, l, Range{h.From + 1, h.To - 1})
	s, l, _ = reopen(t, s, l, opts)
	checkHoles(t, l, Range{h.From + 1, h.To - 1})
	mustRepair(t, l, h.From+1, h.To-1)
	s, l, _ = reopen(t, s, l, opts)
	defer mustClose(t, s)
	checkHoles(t, l)
	readAll(t, l, 0, 0, 0)
}

// Damage a read finds at the end of the active segment: repaired in part,
// appends go on after it, and the rest is still a hole after a restart.
func TestRepairActiveTail(t *testing.T) {
	const n = 400
	src, ends := writeFixture(t, n)
	s, l, _ := reopenDamaged(t, src, func(string) {})
	overwrite(t, segPath(l.dir, 0, logExt), ends[n-1]-600, 600, 6)
	readSkipping(t, l, 0)
	holes := l.Holes()
	if len(holes) != 1 || holes[0].To != n || n-holes[0].From < 4 {
		t.Fatalf("holes %v", holes)
	}
	from := holes[0].From
	mustRepair(t, l, from, from+2)
	checkHoles(t, l, Range{from + 2, n})
	appendN(t, l, 50, 7)
	checkHoles(t, l, Range{from + 2, n})
	s, l, _ = reopen(t, s, l, Options{})
	checkHoles(t, l, Range{from + 2, n})
	mustRepair(t, l, from+2, n)
	appendN(t, l, 5, 5)
	s, l, _ = reopen(t, s, l, Options{})
	defer mustClose(t, s)
	checkHoles(t, l)
	readAll(t, l, 0, 0, 0)
}

// Truncation, retention and Reset across repaired ranges: a repaired range
// is ordinary records (TruncateTo into it works, below it drops it), and
// deleting the segment leaves nothing of the repair behind.
func TestRepairThenTruncate(t *testing.T) {
	const n = 600
	src, ends := writeFixture(t, n)
	pos := ends[300] + 5
	lost := hit(ends, pos, 900)
	a, b := lost[0], lost[1]

	// Into a repaired range: allowed now that its records are back.
	s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, pos, 900, 8) })
	if err := l.TruncateTo(a + 1); err == nil {
		t.Fatal("TruncateTo inside the hole succeeded")
	}
	mustRepair(t, l, a, b)
	if err := l.TruncateTo(a + 1); err != nil {
		t.Fatal(err)
	}
	checkHoles(t, l)
	appendN(t, l, 30, 7)
	readAll(t, l, 0, 0, 0)
	s, l, _ = reopen(t, s, l, Options{})
	readAll(t, l, 0, 0, 0)
	mustClose(t, s)

	// Below a partial repair: the repair and the rest of the hole go.
	s, l, _ = reopenDamaged(t, src, func(p string) { overwrite(t, p, pos, 900, 8) })
	mustRepair(t, l, a+2, a+4)
	if err := l.TruncateTo(a + 3); err != nil {
		t.Fatal(err) // inside the repaired part
	}
	checkHoles(t, l, Range{a, a + 2})
	if err := l.TruncateTo(a + 1); err == nil {
		t.Fatal("TruncateTo inside what is left of the hole succeeded")
	}
	if err := l.TruncateTo(a); err != nil {
		t.Fatal(err)
	}
	checkHoles(t, l)
	appendN(t, l, 30, 7)
	readAll(t, l, 0, 0, 0)
	if err := l.Reset(l.NextOffset() + 10); err != nil {
		t.Fatal(err)
	}
	checkHoles(t, l)
	s, l, _ = reopen(t, s, l, Options{})
	checkHoles(t, l)
	mustClose(t, s)
}

func TestRepairThenRetention(t *testing.T) {
	root := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 2000
	s := openStore(t, root, opts)
	appendN(t, topic(t, s, "x"), 300, 10)
	mustClose(t, s)
	dir := filepath.Join(root, "x")
	logs := segFiles(t, dir, logExt)
	overwrite(t, logs[2], 200, 300, 5)
	opts.MaxRecords = 250
	s = openStore(t, root, opts)
	defer func() { mustClose(t, s) }()
	l := topic(t, s, "x")
	h := l.Holes()
	if len(h) != 1 {
		t.Fatalf("holes %v", h)
	}
	mustRepair(t, l, h[0].From+1, h[0].To)
	checkHoles(t, l, Range{h[0].From, h[0].From + 1})
	// Retention moves the start into the hole, then past the segment.
	base2, _ := parseSegName(filepath.Base(logs[2]))
	base3, _ := parseSegName(filepath.Base(logs[3]))
	appendN(t, l, int(h[0].From+1+250-300), 1)
	if l.StartOffset() != h[0].From+1 {
		t.Fatalf("start %d", l.StartOffset())
	}
	checkHoles(t, l)
	if err := l.RepairRange(recsFor(h[0].From, h[0].From+1)); !errors.Is(err, ErrRepair) {
		t.Fatalf("repair below the start: %v", err)
	}
	appendN(t, l, int(base3-base2), 1)
	for _, ext := range []string{logExt, idxExt, logExt + repairExt, idxExt + repairExt} {
		if _, err := os.Stat(segPath(dir, base2, ext)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s of the retired segment: %v", ext, err)
		}
	}
	s, l, _ = reopen(t, s, l, opts)
	checkHoles(t, l)
	readAll(t, l, l.StartOffset(), 0, 0)
}

// Reads and appends run while ranges are repaired (run with -race): every
// record a reader gets is intact, batches are contiguous, and in the end
// the log is whole.
func TestRepairConcurrent(t *testing.T) {
	const n = 3000
	src, ends := writeFixture(t, n)
	var lost [][2]uint64
	s, l, _ := reopenDamaged(t, src, func(p string) {
		for i, at := range []int{300, 1200, 2500} {
			overwrite(t, p, ends[at]+3, 400, uint64(10+i))
			lost = append(lost, hit(ends, ends[at]+3, 400))
		}
	})
	defer mustClose(t, s)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				readSkipping(t, l, 0)
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if _, err := l.Append(genBatch(l.NextOffset(), 5)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for _, r := range lost {
		mustRepair(t, l, r[0]+1, r[1])
		mustRepair(t, l, r[0], r[0]+1)
	}
	for reads.Load() < 4 {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	checkHoles(t, l)
	readAll(t, l, 0, 0, 0)
}

// FuzzRepair damages a segment of a closed log (where, how much and which
// segment from the input), then repairs parts of the holes found, chosen by
// the rest of the input, and checks after each repair and after a restart
// that Holes lists exactly what is still missing and that the log reads
// every other record intact and in order; once every hole is repaired the
// log is whole.
func FuzzRepair(f *testing.F) {
	f.Add([]byte{0, 1, 0, 40, 7, 0, 0})
	f.Add([]byte{1, 0, 100, 255, 3, 0x31, 2, 0x05, 9})
	f.Add([]byte{3, 0, 0, 8, 1, 0xff, 0xff, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 5 || len(in) > 64 {
			return
		}
		root := t.TempDir()
		opts := Options{Logger: zerolog.Nop(), SegmentBytes: 3000}
		s, err := OpenStore(root, opts)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, topic(t, s, "x"), 120, 9)
		mustClose(t, s)
		logs := segFiles(t, filepath.Join(root, "x"), logExt)
		path := logs[int(in[0])%len(logs)]
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		at := (int64(in[1])<<8 | int64(in[2])) % st.Size()
		overwrite(t, path, at, 1+int64(in[3])*4, uint64(in[4]))

		s, err = OpenStore(root, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { mustClose(t, s) }()
		l := topic(t, s, "x")
		holes := l.Holes()
		check := func() {
			t.Helper()
			checkHoles(t, l, holes...)
		}
		check()
		for ops := in[5:]; len(ops) >= 2; ops = ops[2:] {
			if len(holes) == 0 {
				break
			}
			h := holes[int(ops[0])%len(holes)]
			from := h.From + uint64(ops[1])%(h.To-h.From)
			to := from + 1 + uint64(ops[0]>>4)%(h.To-from)
			if ops[1]&0x80 != 0 && to < l.NextOffset() && to == h.To {
				// One past the hole: refused, nothing changes.
				if err := l.RepairRange(recsFor(from, to+1)); !errors.Is(err, ErrRepair) {
					t.Fatalf("repair [%d, %d) past the hole %v: %v", from, to+1, h, err)
				}
				check()
			}
			mustRepair(t, l, from, to)
			holes = subtract(holes, Range{from, to})
			check()
		}
		s, l, _ = reopen(t, s, l, opts)
		check()
		for _, h := range holes {
			mustRepair(t, l, h.From, h.To)
		}
		holes = nil
		check()
		readAll(t, l, l.StartOffset(), 0, 0)
	})
}
