package topiclog

import (
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

func TestAppendReadAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 1024
	s := openStore(t, dir, opts)
	l := topic(t, s, "t1")
	for _, batch := range []int{1, 7, 100, 333} {
		appendN(t, l, 1000, batch)
	}
	if got := l.NextOffset(); got != 4000 {
		t.Fatalf("NextOffset %d, want 4000", got)
	}
	if n := len(segFiles(t, filepath.Join(dir, "t1"), logExt)); n < 50 {
		t.Fatalf("only %d segments for 4000 records of 1 KiB segments", n)
	}
	for _, lim := range []struct{ recs, bytes int }{{0, 0}, {1, 0}, {13, 0}, {0, 1}, {0, 700}, {50, 5000}} {
		if got := readAll(t, l, 0, lim.recs, lim.bytes); len(got) != 4000 {
			t.Fatalf("limits %+v: read %d records", lim, len(got))
		}
	}
	readAll(t, l, 3777, 10, 0)
	mustClose(t, s)

	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l, ok := s.Lookup("t1")
	if !ok {
		t.Fatal("topic t1 not found after reopen")
	}
	if l.StartOffset() != 0 || l.NextOffset() != 4000 {
		t.Fatalf("after reopen: start %d next %d", l.StartOffset(), l.NextOffset())
	}
	readAll(t, l, 0, 0, 0)
	appendN(t, l, 10, 10)
	readAll(t, l, 3990, 0, 0)
}

func TestReadLimitsAndRange(t *testing.T) {
	s := openStore(t, t.TempDir(), testOpts(t))
	defer mustClose(t, s)
	l := topic(t, s, "t")
	if recs, err := l.Read(0, 10, 10); err != nil || len(recs) != 0 {
		t.Fatalf("empty log: %v %v", recs, err)
	}
	big := record.Record{Payload: make([]byte, 10000)}
	if _, err := l.Append([]record.Record{big, big}); err != nil {
		t.Fatal(err)
	}
	recs, err := l.Read(0, 10, 100)
	if err != nil || len(recs) != 1 || len(recs[0].Payload) != 10000 {
		t.Fatalf("oversized first record: got %d records, %v", len(recs), err)
	}
	if recs, err := l.Read(2, 10, 10); err != nil || len(recs) != 0 {
		t.Fatalf("Read at NextOffset: %v %v", recs, err)
	}
	_, err = l.Read(3, 10, 10)
	var oe *OffsetError
	if !errors.Is(err, ErrOffsetOutOfRange) || !errors.As(err, &oe) || oe.Next != 2 {
		t.Fatalf("Read past end: %v", err)
	}
	// Payloads belong to the caller: a later read must not change them.
	recs, _ = l.Read(0, 1, 0)
	recs[0].Payload[0] = 42
	again, _ := l.Read(0, 1, 0)
	if again[0].Payload[0] != 0 {
		t.Fatal("Read returned a payload that aliases shared memory")
	}
	tooBig := record.Record{Payload: make([]byte, MaxEntryBytes)}
	if _, err := l.Append([]record.Record{tooBig}); err == nil {
		t.Fatal("Append of an over-limit record succeeded")
	}
	longID := record.Record{ProducerID: string(make([]byte, record.MaxProducerID+1))}
	if _, err := l.Append([]record.Record{longID}); err == nil {
		t.Fatal("Append with over-long producer id succeeded")
	}
	if l.NextOffset() != 2 {
		t.Fatalf("rejected appends moved NextOffset to %d", l.NextOffset())
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 2048
	opts.MaxRecords = 100
	s := openStore(t, dir, opts)
	l := topic(t, s, "r")
	appendN(t, l, 2000, 37)
	start, next := l.StartOffset(), l.NextOffset()
	if next != 2000 || start == 0 || start > next-100 {
		t.Fatalf("start %d next %d: want 0 < start <= %d", start, next, next-100)
	}
	readAll(t, l, start, 0, 0)
	_, err := l.Read(0, 1, 0)
	var oe *OffsetError
	if !errors.As(err, &oe) || !errors.Is(err, ErrOffsetOutOfRange) || oe.Start != start {
		t.Fatalf("Read(0) after retention: %v", err)
	}
	// Old files are gone: what remains is bounded by retention, not history.
	files := segFiles(t, filepath.Join(dir, "r"), logExt)
	if len(files) > 10 {
		t.Fatalf("%d segment files remain", len(files))
	}
	if idx := segFiles(t, filepath.Join(dir, "r"), idxExt); len(idx) != len(files) {
		t.Fatalf("%d index files for %d segments", len(idx), len(files))
	}
	mustClose(t, s)

	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "r")
	if l.StartOffset() != start || l.NextOffset() != 2000 {
		t.Fatalf("reopen: start %d next %d, want %d 2000", l.StartOffset(), l.NextOffset(), start)
	}
	appendN(t, l, 5, 5)
	if l.NextOffset() != 2005 {
		t.Fatalf("offsets did not continue: %d", l.NextOffset())
	}
}

// With one record per segment and MaxRecords 1 every old segment goes; the
// offsets must still continue across restarts and truncation to the start.
func TestOffsetsNeverReused(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 1
	opts.MaxRecords = 1
	s := openStore(t, dir, opts)
	l := topic(t, s, "n")
	appendN(t, l, 50, 1)
	if l.StartOffset() != 49 || l.NextOffset() != 50 {
		t.Fatalf("start %d next %d", l.StartOffset(), l.NextOffset())
	}
	if err := l.TruncateTo(49); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 49 || l.NextOffset() != 49 {
		t.Fatalf("after truncate: start %d next %d", l.StartOffset(), l.NextOffset())
	}
	mustClose(t, s)
	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "n")
	if l.StartOffset() != 49 || l.NextOffset() != 49 {
		t.Fatalf("after reopen: start %d next %d", l.StartOffset(), l.NextOffset())
	}
	appendN(t, l, 1, 1)
	readAll(t, l, 49, 0, 0)
}

func TestTruncateToThenAppend(t *testing.T) {
	dir := t.TempDir()
	opts := testOpts(t)
	opts.SegmentBytes = 1500
	s := openStore(t, dir, opts)
	l := topic(t, s, "tr")
	appendN(t, l, 500, 50)
	segsBefore := len(segFiles(t, filepath.Join(dir, "tr"), logExt))
	if err := l.TruncateTo(600); err != nil || l.NextOffset() != 500 {
		t.Fatalf("TruncateTo beyond end: %v, next %d", err, l.NextOffset())
	}
	for _, cut := range []uint64{480, 123, 0} {
		if err := l.TruncateTo(cut); err != nil {
			t.Fatalf("TruncateTo(%d): %v", cut, err)
		}
		if l.NextOffset() != cut {
			t.Fatalf("NextOffset %d after TruncateTo(%d)", l.NextOffset(), cut)
		}
		readAll(t, l, 0, 0, 0)
		if ts := l.OffsetForTime(int64(cut) * 1000); ts != cut {
			t.Fatalf("OffsetForTime after truncate: %d", ts)
		}
		appendN(t, l, 70, 9) // genRecord content matches the new offsets
		readAll(t, l, 0, 0, 0)
		if err := l.TruncateTo(cut + 20); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segFiles(t, filepath.Join(dir, "tr"), logExt)); n >= segsBefore {
		t.Fatalf("%d segments remain of %d", n, segsBefore)
	}
	mustClose(t, s)
	s = openStore(t, dir, opts)
	l = topic(t, s, "tr")
	if l.NextOffset() != 20 {
		t.Fatalf("reopen NextOffset %d, want 20", l.NextOffset())
	}
	readAll(t, l, 0, 0, 0)
	mustClose(t, s)

	opts.MaxRecords = 10
	s = openStore(t, dir, opts)
	defer mustClose(t, s)
	l = topic(t, s, "tr")
	appendN(t, l, 200, 50)
	// Below the retained start: every record goes, offsets continue there.
	cut := l.StartOffset() - 1
	if err := l.TruncateTo(cut); err != nil {
		t.Fatalf("TruncateTo before start: %v", err)
	}
	if l.StartOffset() != cut || l.NextOffset() != cut {
		t.Fatalf("after TruncateTo(%d): [%d, %d)", cut, l.StartOffset(), l.NextOffset())
	}
	appendN(t, l, 5, 5)
	readAll(t, l, cut, 0, 0)
}

func TestAppendAtContiguity(t *testing.T) {
	s := openStore(t, t.TempDir(), testOpts(t))
	defer mustClose(t, s)
	l := topic(t, s, "a")
	at := func(offs ...uint64) []record.Record {
		recs := make([]record.Record, len(offs))
		for i, o := range offs {
			recs[i] = genRecord(o)
			recs[i].Offset = o
		}
		return recs
	}
	if err := l.AppendAt(at(0, 1, 2)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]uint64{{2}, {4}, {3, 5}, {3, 3}, {3, 4, 4}} {
		if err := l.AppendAt(at(bad...)); !errors.Is(err, ErrNotContiguous) {
			t.Fatalf("AppendAt(%v): %v", bad, err)
		}
	}
	if err := l.AppendAt(at(3, 4)); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendAt(nil); err != nil || l.NextOffset() != 5 {
		t.Fatalf("empty AppendAt: %v next %d", err, l.NextOffset())
	}
	readAll(t, l, 0, 0, 0)
}

func TestOffsetForTime(t *testing.T) {
	opts := testOpts(t)
	opts.SegmentBytes = 3000
	opts.MaxRecords = 1500
	s := openStore(t, t.TempDir(), opts)
	defer mustClose(t, s)
	l := topic(t, s, "time")
	if got := l.OffsetForTime(0); got != 0 {
		t.Fatalf("empty log: %d", got)
	}
	// Producer clocks disagree: timestamps wander, so a plain binary search
	// over record timestamps would be wrong.
	ts := func(i uint64) int64 { return int64(i)*100 + int64((i*7919)%1000) - 500 }
	for i := uint64(0); i < 2000; i += 50 {
		recs := genBatch(i, 50)
		for j := range recs {
			recs[j].Timestamp = ts(i + uint64(j))
		}
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	start := l.StartOffset()
	want := func(q int64) uint64 {
		for o := start; o < 2000; o++ {
			if ts(o) >= q {
				return o
			}
		}
		return 2000
	}
	for q := int64(-1000); q < 210000; q += 37 {
		if got, w := l.OffsetForTime(q), want(q); got != w {
			t.Fatalf("OffsetForTime(%d) = %d, want %d", q, got, w)
		}
	}
	if got := l.OffsetForTime(math.MinInt64); got != start {
		t.Fatalf("OffsetForTime(min) = %d, want %d", got, start)
	}
	if got := l.OffsetForTime(math.MaxInt64); got != 2000 {
		t.Fatalf("OffsetForTime(max) = %d", got)
	}
}

func TestMeta(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, testOpts(t))
	l := topic(t, s, "m")
	if l.Meta() != nil {
		t.Fatal("fresh topic has meta")
	}
	if err := l.SetMeta([]byte("epoch 1")); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta([]byte("epoch 2")); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeta(make([]byte, MaxMetaBytes+1)); err == nil {
		t.Fatal("oversized meta accepted")
	}
	m := l.Meta()
	m[0] = 'X' // a copy: must not change the log's blob
	if string(l.Meta()) != "epoch 2" {
		t.Fatalf("meta %q", l.Meta())
	}
	mustClose(t, s)
	s = openStore(t, dir, testOpts(t))
	defer mustClose(t, s)
	if l := topic(t, s, "m"); string(l.Meta()) != "epoch 2" {
		t.Fatalf("meta after reopen %q", l.Meta())
	}
}

// Many readers and one writer with retention deleting segments under them;
// run with -race.
func TestConcurrentReaders(t *testing.T) {
	opts := testOpts(t)
	opts.SegmentBytes = 4096
	opts.MaxRecords = 500
	s := openStore(t, t.TempDir(), opts)
	defer mustClose(t, s)
	l := topic(t, s, "c")
	const total = 5000
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := uint64(0)
			for from < total {
				// The writer keeps going until total, so polling ends; a
				// closed log (the writer failed) ends the reader.
				for l.NextOffset() <= from {
					if l.isClosed() {
						errc <- ErrClosed
						return
					}
					runtime.Gosched()
				}
				recs, err := l.Read(from, 64, 8192)
				var oe *OffsetError
				if errors.As(err, &oe) {
					from = oe.Start // retention overtook this reader
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				for _, rec := range recs {
					if rec.Offset != from || rec.Seq != from+1 || len(rec.Payload) != int(from*7%150) {
						errc <- errors.New("reader saw a wrong record")
						return
					}
					from++
				}
				_ = l.OffsetForTime(int64(from) * 1000)
			}
		}()
	}
	for l.NextOffset() < total {
		appendN(t, l, min(17, total-int(l.NextOffset())), 17)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestFlushPolicies(t *testing.T) {
	for _, p := range []FlushPolicy{FlushNever, FlushEveryBatch, FlushInterval} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := testOpts(t)
			opts.Flush = p
			opts.SegmentBytes = 1000
			opts.FlushEvery = time.Millisecond // exercises the flusher; nothing waits for it
			s := openStore(t, dir, opts)
			l := topic(t, s, "f")
			appendN(t, l, 100, 10)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			mustClose(t, s)
			s = openStore(t, dir, opts)
			defer mustClose(t, s)
			readAll(t, topic(t, s, "f"), 0, 0, 0)
		})
	}
}

func TestParseFlushPolicy(t *testing.T) {
	for _, p := range []FlushPolicy{FlushNever, FlushEveryBatch, FlushInterval} {
		got, err := ParseFlushPolicy(p.String())
		if err != nil || got != p {
			t.Fatalf("round trip of %v: %v %v", p, got, err)
		}
	}
	if _, err := ParseFlushPolicy("sometimes"); err == nil {
		t.Fatal("bad policy accepted")
	}
}
