package topiclog

import (
	"bytes"
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/logstream/logstream/pkg/durable"

	"github.com/logstream/logstream/pkg/record"
)

// rawOf is what ReadRaw should return for records read by Read: their
// encodings back to back, those at or beyond end left out.
func rawOf(recs []record.Record, end uint64) (enc []byte, n, payload int) {
	for i := range recs {
		if recs[i].Offset >= end {
			break
		}
		enc = recs[i].AppendBinary(enc)
		n++
		payload += len(recs[i].Payload)
	}
	return enc, n, payload
}

// ReadRaw returns exactly the records Read returns, encoded, from every
// offset, under record and byte limits and a commit bound, on a log with two
// damaged ranges cut out (a batch never spans one), and on a log of many
// segments.
func TestReadRawMatchesRead(t *testing.T) {
	const n = 400
	src, ends := writeFixture(t, n)
	s, l, _ := reopenDamaged(t, src, func(p string) {
		overwrite(t, p, ends[50]+3, 100, 3)
		overwrite(t, p, ends[300]+9, 700, 4)
	})
	defer mustClose(t, s)
	checkReadRaw(t, l, n)

	opts := testOpts(t)
	opts.SegmentBytes = 4096
	s2 := openStore(t, t.TempDir(), opts)
	defer mustClose(t, s2)
	l2 := topic(t, s2, "y")
	for i := uint64(0); i < n; i += 10 {
		if _, err := l2.Append(genBatch(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if segs := len(l2.segs); segs < 3 {
		t.Fatalf("want several segments, have %d", segs)
	}
	checkReadRaw(t, l2, n)
}

func checkReadRaw(t *testing.T, l *Log, n uint64) {
	t.Helper()
	limits := []struct{ recs, bytes int }{{1, 0}, {7, 0}, {1000, 0}, {0, 300}, {50, 2000}}
	for _, lim := range limits {
		for _, end := range []uint64{n, n / 2, 3} {
			for from := uint64(0); from <= n; from++ {
				want, err := l.Read(from, lim.recs, lim.bytes)
				if err != nil {
					t.Fatalf("Read(%d): %v", from, err)
				}
				wantEnc, wantN, wantPayload := rawOf(want, end)
				scratch := []byte("kept")
				got, err := l.ReadRaw(from, lim.recs, lim.bytes, end, scratch[:0])
				if err != nil {
					t.Fatalf("ReadRaw(%d): %v", from, err)
				}
				if got.Count != wantN || !bytes.Equal(got.Encoded, wantEnc) || got.PayloadBytes != wantPayload {
					t.Fatalf("from %d, limits %+v, end %d: ReadRaw gave %d records (%d bytes, %d payload), Read %d (%d bytes, %d payload)",
						from, lim, end, got.Count, len(got.Encoded), got.PayloadBytes, wantN, len(wantEnc), wantPayload)
				}
				if wantN > 0 && (got.First != want[0].Offset || got.Next != want[wantN-1].Offset+1) {
					t.Fatalf("from %d: ReadRaw offsets [%d, %d), want [%d, %d)", from, got.First, got.Next, want[0].Offset, want[wantN-1].Offset+1)
				}
			}
		}
	}
	if _, err := l.ReadRaw(n+1, 10, 0, n+5, nil); err == nil {
		t.Error("ReadRaw past the log's end: no error")
	}
}

// countingFS counts the bytes read from its files.
type countingFS struct {
	durable.FS
	read *atomic.Int64
}

func (c countingFS) OpenFile(name string, flag int, perm fs.FileMode) (durable.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countingFile{f, c.read}, nil
}

type countingFile struct {
	durable.File
	read *atomic.Int64
}

func (f countingFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	f.read.Add(int64(n))
	return n, err
}

// A count-limited read preads about what its records take, not the
// scanner's 64 KiB-and-doubling steps past them: a catch-up read of 1000
// records of 100 bytes read 192 KiB for 125 KiB of records.
func TestReadRawReadsWhatItReturns(t *testing.T) {
	var read atomic.Int64
	opts := testOpts(t)
	opts.FS = countingFS{durable.OS, &read}
	s := openStore(t, t.TempDir(), opts)
	defer mustClose(t, s)
	l := topic(t, s, "x")
	recs := make([]record.Record, 20000)
	for i := range recs {
		recs[i] = record.Record{Offset: uint64(i), Timestamp: 1_780_000_000_000_000_000 + int64(i), ProducerID: "p", Seq: uint64(i + 1),
			Payload: bytes.Repeat([]byte{'x'}, 100)}
	}
	if _, err := l.Append(recs); err != nil {
		t.Fatal(err)
	}
	var stored, preads int64
	var buf []byte
	for from := uint64(0); from < 20000; from += 1000 {
		read.Store(0)
		b, err := l.ReadRaw(from, 1000, 2<<20, 20000, buf[:0])
		if err != nil || b.Count != 1000 || b.First != from {
			t.Fatalf("ReadRaw(%d): %d records from %d, %v", from, b.Count, b.First, err)
		}
		buf = b.Encoded
		stored += int64(len(b.Encoded)) + 1000*entryHeader
		preads += read.Load()
	}
	if preads > stored*5/4 {
		t.Errorf("read %d bytes from the file for %d bytes of stored records", preads, stored)
	}
}
