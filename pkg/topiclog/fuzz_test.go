package topiclog

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzRecover writes a valid log, overwrites bytes of its segment file with
// the fuzz input at a position taken from the input's first two bytes, and
// checks that opening never panics, that what the log serves is records in
// offset order (contiguous within a batch; damage is skipped), each passing
// its checksum and matching what was written, and that the log still
// accepts appends.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 8, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0, 0, 0x10, 1, 2, 3, 4})
	f.Add([]byte{0x20, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 || len(in) > 1<<16 {
			return
		}
		root := t.TempDir()
		opts := Options{Logger: zerolog.Nop(), SegmentBytes: 3000}
		s, err := OpenStore(root, opts)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Topic("f")
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 80, 9)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		logs := segFiles(t, filepath.Join(root, "f"), logExt)
		path := logs[int(in[0])%len(logs)]
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		at := int(binary.BigEndian.Uint16(in)) % (len(b) + 1)
		patch := in[2:]
		if end := at + len(patch); end > len(b) {
			b = append(b, make([]byte, end-len(b))...)
		}
		copy(b[at:], patch)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}

		s, err = OpenStore(root, opts)
		if err != nil {
			return // refusing to open is allowed; panicking is not
		}
		defer s.Close()
		l, ok := s.Lookup("f")
		if !ok {
			t.Fatal("topic lost")
		}
		next := l.NextOffset()
		for from := l.StartOffset(); from < next; {
			recs, err := l.Read(from, 50, 4096)
			if err != nil {
				t.Fatalf("Read(%d): %v", from, err) // damage is cut out, never an error
			}
			if len(recs) == 0 {
				break // the rest is a cut-out range
			}
			for i, r := range recs {
				if r.Offset < from || i > 0 && r.Offset != recs[i-1].Offset+1 {
					t.Fatalf("offset %d after %d: a batch must be contiguous from %d on", r.Offset, from, from)
				}
				// Reads verify the CRC; the record must also be what was written
				// (a forged entry would need a matching CRC-32C and offset).
				checkRecord(t, r)
			}
			from = recs[len(recs)-1].Offset + 1
		}
		if _, err := l.Append(genBatch(next, 3)); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		if recs, err := l.Read(next, 10, 0); err != nil || len(recs) != 3 {
			t.Fatalf("Read of new records: %d %v", len(recs), err)
		}
	})
}

// FuzzReadDamaged overwrites bytes of a segment while the log is open (so
// only reads can find the damage) within the segment's committed size, and
// checks that reads never fail or stall, serve only intact records in
// offset order, and that the log still accepts appends.
func FuzzReadDamaged(f *testing.F) {
	f.Add([]byte{0, 0, 0xff})
	f.Add([]byte{0, 40, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9})
	f.Add([]byte{2, 0, 0, 0, 0, 0x10, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 || len(in) > 1<<12 {
			return
		}
		s, err := OpenStore(t.TempDir(), Options{Logger: zerolog.Nop(), SegmentBytes: 3000})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l, err := s.Topic("f")
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 80, 9)
		logs := segFiles(t, l.dir, logExt)
		path := logs[int(in[0])%len(logs)]
		st, err := os.Stat(path)
		if err != nil || st.Size() == 0 {
			return
		}
		at := int64(binary.BigEndian.Uint16(in)) % st.Size()
		patch := in[2:min(len(in), 2+int(st.Size()-at))]
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.WriteAt(patch, at)
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		readSkipping(t, l, l.StartOffset())
		readSkipping(t, l, l.StartOffset())
		next := l.NextOffset()
		if _, err := l.Append(genBatch(next, 3)); err != nil {
			t.Fatalf("Append after damage: %v", err)
		}
		if recs, err := l.Read(next, 10, 0); err != nil || len(recs) != 3 {
			t.Fatalf("Read of new records: %d %v", len(recs), err)
		}
	})
}
