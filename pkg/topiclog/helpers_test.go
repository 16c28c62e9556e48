package topiclog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/logstream/logstream/pkg/record"
	"github.com/rs/zerolog"
)

// testOpts returns options that log into the test.
func testOpts(t testing.TB) Options {
	return Options{Logger: zerolog.New(zerolog.NewTestWriter(t))}
}

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := OpenStore(dir, opts)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func topic(t testing.TB, s *Store, name string) *Log {
	t.Helper()
	l, err := s.Topic(name)
	if err != nil {
		t.Fatalf("Topic(%q): %v", name, err)
	}
	return l
}

// genRecord is the deterministic content of the record at offset i, so any
// reader can check what it got without remembering what was written.
func genRecord(i uint64) record.Record {
	p := make([]byte, int(i*7%150))
	for j := range p {
		p[j] = byte(i>>uint(j%8*8)) ^ byte(j)
	}
	return record.Record{
		Timestamp:  int64(i) * 1000,
		ProducerID: fmt.Sprintf("p%d", i%3),
		Seq:        i + 1,
		Payload:    p,
	}
}

func genBatch(from uint64, n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = genRecord(from + uint64(i))
	}
	return recs
}

// appendN appends records from..from+n in batches of batch and checks the
// offsets Append assigns.
func appendN(t testing.TB, l *Log, n, batch int) {
	t.Helper()
	for done := 0; done < n; {
		k := min(batch, n-done)
		next := l.NextOffset()
		recs := genBatch(next, k)
		first, err := l.Append(recs)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if first != next {
			t.Fatalf("Append returned first %d, want %d", first, next)
		}
		for i := range recs {
			if recs[i].Offset != first+uint64(i) {
				t.Fatalf("Append set Offset %d at %d, want %d", recs[i].Offset, i, first+uint64(i))
			}
		}
		done += k
	}
}

func checkRecord(t testing.TB, r record.Record) {
	t.Helper()
	want := genRecord(r.Offset)
	if r.Timestamp != want.Timestamp || r.ProducerID != want.ProducerID || r.Seq != want.Seq || !bytes.Equal(r.Payload, want.Payload) {
		t.Fatalf("record %d: got %+v, want %+v", r.Offset, r, want)
	}
}

// readAll reads [from, NextOffset) in pieces and checks every record.
func readAll(t testing.TB, l *Log, from uint64, maxRecords, maxBytes int) []record.Record {
	t.Helper()
	var all []record.Record
	for next := l.NextOffset(); from < next; {
		recs, err := l.Read(from, maxRecords, maxBytes)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		if len(recs) == 0 {
			t.Fatalf("Read(%d) returned nothing before NextOffset %d", from, next)
		}
		for _, r := range recs {
			if r.Offset != from {
				t.Fatalf("Read: got offset %d, want %d", r.Offset, from)
			}
			checkRecord(t, r)
			from++
		}
		all = append(all, recs...)
	}
	return all
}

func segFiles(t testing.TB, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func mustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("Close: %v", err)
	}
}
