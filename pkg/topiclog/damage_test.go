package topiclog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// expectHoles checks that the log holds every offset of [0, n) except the
// lost ranges, each record intact; that a read starting inside a lost range
// starts after it; and that the log appends and reads on.
func expectHoles(t *testing.T, l *Log, n uint64, lost [][2]uint64) {
	t.Helper()
	if l.NextOffset() != n {
		t.Fatalf("NextOffset %d, want %d", l.NextOffset(), n)
	}
	gone := func(off uint64) bool {
		for _, r := range lost {
			if off >= r[0] && off < r[1] {
				return true
			}
		}
		return false
	}
	var want []uint64
	for off := l.StartOffset(); off < n; off++ {
		if !gone(off) {
			want = append(want, off)
		}
	}
	got := readSkipping(t, l, l.StartOffset())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read offsets %v\nwant %v", got, want)
	}
	for _, r := range lost {
		recs, err := l.Read(r[0], 1, 0)
		if err != nil || r[1] < n && (len(recs) != 1 || recs[0].Offset != r[1]) {
			t.Fatalf("Read(%d) inside the lost range [%d, %d): %v %v", r[0], r[0], r[1], recs, err)
		}
	}
	appendN(t, l, 3, 3)
	if recs, err := l.Read(n, 0, 0); err != nil || len(recs) != 3 {
		t.Fatalf("reading the new records: %d, %v", len(recs), err)
	}
	checkDamageList(t, l, lost)
}

// checkDamageList checks Damaged lists exactly the lost data ranges.
func checkDamageList(t *testing.T, l *Log, lost [][2]uint64) {
	t.Helper()
	var got [][2]uint64
	for _, d := range l.Damaged() {
		if d.Kind == DamageData {
			got = append(got, [2]uint64{d.From, d.To})
		}
	}
	if len(got) != len(lost) {
		t.Fatalf("Damaged lists %v, want %v", got, lost)
	}
	for i := range got {
		if got[i] != lost[i] {
			t.Fatalf("Damaged lists %v, want %v", got, lost)
		}
	}
}

// readSkipping reads from from to NextOffset as a consumer does (each next
// read starts after the last record), checks every record and returns the
// offsets read. Every batch must be contiguous.
func readSkipping(t *testing.T, l *Log, from uint64) []uint64 {
	t.Helper()
	var offs []uint64
	for next, i := l.NextOffset(), 0; from < next; i++ {
		if i > 100000 {
			t.Fatal("read loop did not end")
		}
		recs, err := l.Read(from, 7, 0)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		if len(recs) == 0 {
			break
		}
		for j, r := range recs {
			if r.Offset < from || j > 0 && r.Offset != recs[j-1].Offset+1 {
				t.Fatalf("Read(%d): offset %d in a batch that is not contiguous", from, r.Offset)
			}
			checkRecord(t, r)
			offs = append(offs, r.Offset)
		}
		from = recs[len(recs)-1].Offset + 1
	}
	return offs
}

// overwrite replaces length bytes at pos of path with seeded random bytes.
func overwrite(t *testing.T, path string, pos, length int64, seed uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := pos; i < pos+length && i < int64(len(b)); i++ {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hit returns the records [first, last+1) whose bytes [pos, pos+length)
// touch, given each record's end position.
func hit(ends []int64, pos, length int64) [2]uint64 {
	first := uint64(0)
	for ends[first] <= pos {
		first++
	}
	last := first
	for int(last) < len(ends) && (last == 0 || ends[last-1] < pos+length) {
		last++
	}
	return [2]uint64{first, last}
}

// 512 random bytes in the middle of the segment (the bad sector):
// found at open, reported in one line, cut out; everything before and after
// is served and appends go on, also after another restart.
func TestDamageMiddle(t *testing.T) {
	const n = 3000
	src, ends := writeFixture(t, n)
	pos := ends[n/2] + 37
	s, l, out := reopenDamaged(t, src, func(p string) { overwrite(t, p, pos, 512, 1) })
	lost := hit(ends, pos, 512)
	if lines := out.lines(); len(lines) != 1 || !strings.Contains(lines[0], `"level":"error"`) ||
		!strings.Contains(lines[0], fmt.Sprintf(`"from":%d,"to":%d`, lost[0], lost[1])) {
		t.Fatalf("want one error line for offsets [%d, %d), got %q", lost[0], lost[1], lines)
	}
	expectHoles(t, l, n, [][2]uint64{lost})
	mustClose(t, s)

	s = openStore(t, filepath.Dir(l.dir), testOpts(t))
	defer mustClose(t, s)
	l = topic(t, s, "x")
	expectHoles(t, l, n+3, [][2]uint64{lost})
}

// Damage at the very start of the first segment: a reader from the start
// gets the first intact record.
func TestDamageStart(t *testing.T) {
	const n = 200
	src, ends := writeFixture(t, n)
	s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, 0, 300, 2) })
	defer mustClose(t, s)
	expectHoles(t, l, n, [][2]uint64{hit(ends, 0, 300)})
}

// Two damaged ranges are two reports, each cut out on its own.
func TestDamageTwoRanges(t *testing.T) {
	const n = 400
	src, ends := writeFixture(t, n)
	s, l, out := reopenDamaged(t, src, func(p string) {
		overwrite(t, p, ends[50]+3, 100, 3)
		overwrite(t, p, ends[300]+9, 700, 4)
	})
	defer mustClose(t, s)
	if lines := out.lines(); len(lines) != 2 {
		t.Fatalf("want two lines, got %q", lines)
	}
	expectHoles(t, l, n, [][2]uint64{hit(ends, ends[50]+3, 100), hit(ends, ends[300]+9, 700)})
}

// The tail of an older segment: its damaged records are cut out and the
// later segments stay (they used to be dropped, losing every newer record).
func TestDamageTailOfOlderSegment(t *testing.T) {
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
	st, err := os.Stat(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	overwrite(t, logs[1], st.Size()-150, 150, 5)
	s = openStore(t, root, opts)
	defer mustClose(t, s)
	l := topic(t, s, "x")
	base2, _ := parseSegName(filepath.Base(logs[2]))
	d := l.Damaged()
	if len(d) != 1 || d[0].To != base2 || d[0].From >= base2 || d[0].Kind != DamageData {
		t.Fatalf("damage %v, want one data range ending at %d", d, base2)
	}
	expectHoles(t, l, 300, [][2]uint64{{d[0].From, d[0].To}})
}

// An index whose entries point at the wrong places (still increasing, so
// they look valid) is found at open and rebuilt; no record is lost.
func TestDamageIndex(t *testing.T) {
	const n = 3000
	src, _ := writeFixture(t, n)
	p := segPath(src, 0, idxExt)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s, l, out := reopenDamaged(t, src, func(logPath string) {
		b := bytes.Clone(orig)
		for i := 10; i < 20; i++ { // shift entries 10..19 by 3 bytes
			b[i*indexEntrySize+7] += 3
		}
		if err := os.WriteFile(strings.TrimSuffix(logPath, logExt)+idxExt, b, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	defer mustClose(t, s)
	if lines := out.lines(); len(lines) != 1 || !strings.Contains(lines[0], `"kind":"index"`) {
		t.Fatalf("want one index damage line, got %q", lines)
	}
	d := l.Damaged()
	if len(d) != 1 || d[0].Kind != DamageIndex || d[0].Lost() != 0 {
		t.Fatalf("damage %v", d)
	}
	readAll(t, l, 0, 0, 0)
	for _, off := range []uint64{500, 1000, 1500} {
		if recs, err := l.Read(off, 1, 0); err != nil || len(recs) != 1 || recs[0].Offset != off {
			t.Fatalf("Read(%d): %v %v", off, recs, err)
		}
	}
}

// Damage that appears while the log is open is found by the read that
// meets it: reported once, cut out, never an error or a stuck reader.
func TestDamageFoundByRead(t *testing.T) {
	const n = 400
	src, ends := writeFixture(t, n)
	s, l, out := reopenDamaged(t, src, func(string) {})
	defer mustClose(t, s)
	pos := ends[200] + 11
	overwrite(t, segPath(l.dir, 0, logExt), pos, 64, 6)
	lost := hit(ends, pos, 64)
	got := readSkipping(t, l, 0)
	if len(got) != n-int(lost[1]-lost[0]) {
		t.Fatalf("read %d records, want %d", len(got), n-int(lost[1]-lost[0]))
	}
	readSkipping(t, l, 0) // a second pass finds nothing new
	if lines := out.lines(); len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf(`"from":%d,"to":%d`, lost[0], lost[1])) {
		t.Fatalf("want one line for [%d, %d), got %q", lost[0], lost[1], lines)
	}
	expectHoles(t, l, n, [][2]uint64{lost})
}

// Truncating to the first offset of a cut-out range drops the range with
// the records after it; truncating into the middle of one is refused (the
// records before the cut point are gone, so the log could not end there).
func TestTruncateAtDamage(t *testing.T) {
	const n = 400
	src, ends := writeFixture(t, n)
	s, l, _ := reopenDamaged(t, src, func(p string) { overwrite(t, p, ends[100]+5, 300, 7) })
	defer mustClose(t, s)
	lost := hit(ends, ends[100]+5, 300)
	if lost[1]-lost[0] < 2 {
		t.Fatalf("damage hit only %v", lost)
	}
	if err := l.TruncateTo(lost[0] + 1); err == nil {
		t.Fatal("TruncateTo inside a damaged range succeeded")
	}
	if err := l.TruncateTo(lost[0]); err != nil {
		t.Fatal(err)
	}
	if d := l.Damaged(); len(d) != 1 {
		t.Fatalf("damage reports %v", d) // the report stays: it happened
	}
	appendN(t, l, 20, 5)
	readAll(t, l, 0, 0, 0)
}
