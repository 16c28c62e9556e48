package record

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []Record{
		{},
		{Offset: 7, Timestamp: -3, ProducerID: "prod1-ab12", Seq: 42, Payload: []byte("hello")},
		{Offset: 1 << 60, Timestamp: 1 << 62, ProducerID: "p", Seq: 1 << 63, Payload: bytes.Repeat([]byte{0xff}, 1<<20)},
	}
	var buf []byte
	for i := range in {
		buf = in[i].AppendBinary(buf)
	}
	for i := range in {
		got, n, err := Decode(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		buf = buf[n:]
		if got.Offset != in[i].Offset || got.Timestamp != in[i].Timestamp || got.ProducerID != in[i].ProducerID ||
			got.Seq != in[i].Seq || !bytes.Equal(got.Payload, in[i].Payload) {
			t.Fatalf("record %d: got %+v want %+v", i, got, in[i])
		}
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
}

func TestDecodeTruncated(t *testing.T) {
	r := Record{Offset: 300, Timestamp: 99, ProducerID: "abc", Seq: 5, Payload: []byte("payload")}
	full := r.AppendBinary(nil)
	for i := 0; i < len(full); i++ {
		if _, _, err := Decode(full[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded without error", i)
		}
	}
}

func FuzzDecode(f *testing.F) {
	r := Record{Offset: 1, Timestamp: 2, ProducerID: "p", Seq: 3, Payload: []byte("x")}
	f.Add(r.AppendBinary(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, n, err := Decode(b)
		if ref, rn, rerr := refDecode(b); (err == nil) != (rerr == nil) || err == nil && (rn != n || ref.Timestamp != got.Timestamp || ref.Seq != got.Seq) {
			t.Fatalf("% x: Decode (%+v, %d, %v), encoding/binary (%+v, %d, %v)", b, got, n, err, ref, rn, rerr)
		}
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, m, err := Decode(got.AppendBinary(nil))
		if err != nil || again.Seq != got.Seq || again.Offset != got.Offset || !bytes.Equal(again.Payload, got.Payload) || m == 0 {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}

// refDecode is Decode written with encoding/binary's varint decoders, which
// Decode's own must agree with.
func refDecode(b []byte) (Record, int, error) {
	var r Record
	var k, n int
	if r.Offset, k = binary.Uvarint(b); k <= 0 {
		return r, 0, errCorrupt
	}
	n += k
	if r.Timestamp, k = binary.Varint(b[n:]); k <= 0 {
		return r, 0, errCorrupt
	}
	n += k
	if n >= len(b) || len(b)-n-1 < int(b[n]) {
		return r, 0, errCorrupt
	}
	r.ProducerID, n = string(b[n+1:n+1+int(b[n])]), n+1+int(b[n])
	if r.Seq, k = binary.Uvarint(b[n:]); k <= 0 {
		return r, 0, errCorrupt
	}
	n += k
	v, k := binary.Uvarint(b[n:])
	if k <= 0 || v > uint64(len(b)-n-k) {
		return r, 0, errCorrupt
	}
	n += k
	return Record{Offset: r.Offset, Timestamp: r.Timestamp, ProducerID: r.ProducerID, Seq: r.Seq, Payload: b[n : n+int(v)]}, n + int(v), nil
}

// Peek accepts exactly what Decode accepts and agrees on the offset, the
// payload's length and the bytes taken, on valid records and on every
// prefix and single-byte change of them.
func TestPeekAgreesWithDecode(t *testing.T) {
	recs := []Record{
		{},
		{Offset: 1 << 40, Timestamp: -5, ProducerID: "prod", Seq: 300, Payload: []byte("hello")},
		{Offset: 7, Timestamp: 1700000000000000000, ProducerID: string(make([]byte, MaxProducerID)), Seq: 1, Payload: make([]byte, 300)},
	}
	check := func(b []byte) {
		r, n, err := Decode(b)
		if rr, rn, rerr := refDecode(b); (err == nil) != (rerr == nil) || err == nil && (rn != n || rr.Offset != r.Offset ||
			rr.Timestamp != r.Timestamp || rr.ProducerID != r.ProducerID || rr.Seq != r.Seq || !bytes.Equal(rr.Payload, r.Payload)) {
			t.Fatalf("% x: Decode (%+v, %d, %v), encoding/binary (%+v, %d, %v)", b, r, n, err, rr, rn, rerr)
		}
		off, payload, pn, perr := Peek(b)
		if (err == nil) != (perr == nil) {
			t.Fatalf("% x: Decode error %v, Peek error %v", b, err, perr)
		}
		if err == nil && (off != r.Offset || payload != len(r.Payload) || pn != n) {
			t.Fatalf("% x: Peek (%d, %d, %d), Decode (%d, %d, %d)", b, off, payload, pn, r.Offset, len(r.Payload), n)
		}
	}
	// Varints of ten bytes whose last byte overflows 64 bits (2), or does
	// not (1), as the timestamp and as the sequence number.
	for _, last := range []byte{1, 2} {
		ten := append(bytes.Repeat([]byte{0xff}, 9), last)
		check(slices.Concat([]byte{5}, ten, []byte{1, 'p', 1, 1, 'x'}))
		check(slices.Concat([]byte{5, 2, 1, 'p'}, ten, []byte{1, 'x'}))
		check(slices.Concat([]byte{5}, bytes.Repeat([]byte{0x80}, 11), []byte{1, 'p', 1, 1, 'x'}))
	}
	for _, r := range recs {
		b := r.AppendBinary(nil)
		for i := 0; i <= len(b); i++ {
			check(b[:i])
		}
		for i := range b {
			for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff} {
				c := append([]byte(nil), b...)
				c[i] = v
				check(c)
			}
		}
	}
}

// uvarint agrees with binary.Uvarint on every length of varint, at the
// edges of each, with room for its eight-bytes-at-once path and without.
func TestUvarintAgreesWithBinary(t *testing.T) {
	var vals []uint64
	for k := uint(0); k < 64; k += 7 {
		vals = append(vals, 1<<k-1, 1<<k, 1<<k+1, 3<<k)
	}
	vals = append(vals, 1<<63-1, 1<<63, 1<<64-1, 1_780_000_000_000_000_000)
	for _, v := range vals {
		enc := binary.AppendUvarint(nil, v)
		for _, pad := range []int{0, 3, 10} {
			b := append(append([]byte{0xaa}, enc...), make([]byte, pad)...)
			got, n := uvarint(b, 1)
			want, k := binary.Uvarint(b[1:])
			if got != want || n != 1+k {
				t.Fatalf("%d with %d bytes after: uvarint (%d, %d), binary.Uvarint (%d, %d)", v, pad, got, n, want, 1+k)
			}
		}
	}
}

// putUvarint writes what binary.AppendUvarint appends, for every length of
// varint and at the edges of each.
func TestPutUvarintAgreesWithBinary(t *testing.T) {
	var vals []uint64
	for k := uint(0); k < 64; k++ {
		vals = append(vals, 1<<k-1, 1<<k, 1<<k+1, 3<<k, 0x55<<k)
	}
	vals = append(vals, 1<<63-1, 1<<63, 1<<64-1, 1_780_000_000_000_000_000)
	for _, v := range vals {
		want := binary.AppendUvarint([]byte{0xaa}, v)
		b := bytes.Repeat([]byte{0xcc}, 1+binary.MaxVarintLen64)
		n := putUvarint(b, 1, v)
		if n != len(want) || !bytes.Equal(b[1:n], want[1:]) {
			t.Fatalf("%d: putUvarint wrote % x (to %d), binary.AppendUvarint % x", v, b[1:n], n, want[1:])
		}
	}
}
