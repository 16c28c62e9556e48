package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/logstream/logstream/pkg/record"
)

// MaxListLen bounds every list in a message body, whatever the body size.
const MaxListLen = 1 << 20

// MaxBatchRecords bounds the records in one PRODUCE or RECORDS body. A
// record takes as little as five bytes on the wire but about 64 in memory,
// so without it a hostile 4 MB PRODUCE of empty records decodes to ~53 MB.
// Producers send at most 1000 per frame by default; brokers at most 10000.
const MaxBatchRecords = 1 << 14

// ErrTooManyRecords is a PRODUCE or RECORDS body over MaxBatchRecords.
var ErrTooManyRecords = fmt.Errorf("%w: more than %d records in one batch", ErrMalformed, MaxBatchRecords)

// minRecordSize is the smallest encoding record.Decode accepts: five one-byte
// fields (offset, timestamp, id length, seq, payload length).
const minRecordSize = 5

// Enc appends body fields to B. Integers are fixed-width big-endian; strings
// and byte slices carry a uvarint length.
type Enc struct{ B []byte }

// U8, U16, U32 and U64 write fixed-width big-endian integers.
func (e *Enc) U8(v uint8)   { e.B = append(e.B, v) }
func (e *Enc) U16(v uint16) { e.B = binary.BigEndian.AppendUint16(e.B, v) }
func (e *Enc) U32(v uint32) { e.B = binary.BigEndian.AppendUint32(e.B, v) }
func (e *Enc) U64(v uint64) { e.B = binary.BigEndian.AppendUint64(e.B, v) }

// I64 writes v as a fixed-width two's complement (same bytes as U64).
func (e *Enc) I64(v int64) { e.U64(uint64(v)) }

// Uvarint and Varint write encoding/binary varints.
func (e *Enc) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }
func (e *Enc) Varint(v int64)   { e.B = binary.AppendVarint(e.B, v) }

// F64 writes the IEEE 754 bits of v as a U64.
func (e *Enc) F64(v float64) { e.U64(math.Float64bits(v)) }

// Bool writes 1 or 0; Dec.Bool refuses anything else.
func (e *Enc) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}

// Bytes writes a uvarint length and v.
func (e *Enc) Bytes(v []byte) {
	e.Uvarint(uint64(len(v)))
	e.B = append(e.B, v...)
}

// String writes a uvarint length and v.
func (e *Enc) String(v string) {
	e.Uvarint(uint64(len(v)))
	e.B = append(e.B, v...)
}

// Count writes a list length; the decoder bounds it with Dec.Count.
func (e *Enc) Count(n int) { e.Uvarint(uint64(n)) }

// Record writes one record in record's own encoding.
func (e *Enc) Record(r *record.Record) { e.B = r.AppendBinary(e.B) }

// Records writes a count and the records.
func (e *Enc) Records(rs []record.Record) {
	// One allocation up front instead of a dozen as a batch grows.
	size := binary.MaxVarintLen64
	for i := range rs {
		size += rs[i].Size()
	}
	e.B = slices.Grow(e.B, size)
	e.Count(len(rs))
	for i := range rs {
		e.Record(&rs[i])
	}
}

// Dec reads body fields. The first error sticks: later getters return zero
// values, so a decoder reads all its fields and checks Err or Finish once.
// Note that String reads a field; do not print a *Dec with %v.
type Dec struct {
	b   []byte
	off int
	err error
}

// NewDec returns a decoder over b. Bytes and Record alias b.
func NewDec(b []byte) *Dec { return &Dec{b: b} }

// Err returns the first error met, if any.
func (d *Dec) Err() error { return d.err }

// Len returns the number of bytes not yet read.
func (d *Dec) Len() int { return len(d.b) - d.off }

// Finish returns the first error, or ErrMalformed if bytes are left over.
func (d *Dec) Finish() error {
	if d.err == nil && d.Len() != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, d.Len())
	}
	return d.err
}

// Fail records err unless an error is already recorded. Message decoders use
// it for semantic checks.
func (d *Dec) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// take returns the next n bytes, or nil after recording ErrTruncated.
func (d *Dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.Len() {
		d.err = fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, n, d.Len())
		return nil
	}
	b := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// U8, U16, U32 and U64 read fixed-width big-endian integers.
func (d *Dec) U8() uint8 {
	if b := d.take(1, "u8"); b != nil {
		return b[0]
	}
	return 0
}

func (d *Dec) U16() uint16 {
	if b := d.take(2, "u16"); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *Dec) U32() uint32 {
	if b := d.take(4, "u32"); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *Dec) U64() uint64 {
	if b := d.take(8, "u64"); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// I64 reads what Enc.I64 wrote; F64 what Enc.F64 wrote.
func (d *Dec) I64() int64   { return int64(d.U64()) }
func (d *Dec) F64() float64 { return math.Float64frombits(d.U64()) }

// Uvarint reads an unsigned varint; an over-long one is ErrMalformed.
func (d *Dec) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		if n == 0 {
			d.err = fmt.Errorf("%w: uvarint", ErrTruncated)
		} else {
			d.err = fmt.Errorf("%w: uvarint overflows 64 bits", ErrMalformed)
		}
		return 0
	}
	d.off += n
	return v
}

// Varint reads a signed varint.
func (d *Dec) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		if n == 0 {
			d.err = fmt.Errorf("%w: varint", ErrTruncated)
		} else {
			d.err = fmt.Errorf("%w: varint overflows 64 bits", ErrMalformed)
		}
		return 0
	}
	d.off += n
	return v
}

// Bool reads a byte that must be 0 or 1.
func (d *Dec) Bool() bool {
	switch v := d.U8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Fail(fmt.Errorf("%w: bool byte %d", ErrMalformed, v))
		return false
	}
}

// length reads a uvarint length that must fit in the remaining input.
func (d *Dec) length(what string) int {
	n := d.Uvarint()
	if d.err == nil && n > uint64(d.Len()) {
		d.err = fmt.Errorf("%w: %s of %d bytes, %d left", ErrTruncated, what, n, d.Len())
		return 0
	}
	return int(n)
}

// Bytes returns a length-prefixed byte slice aliasing the input (nil if empty).
func (d *Dec) Bytes() []byte {
	n := d.length("bytes")
	if n == 0 {
		return nil
	}
	return d.take(n, "bytes")
}

// String returns a length-prefixed string (a copy).
func (d *Dec) String() string {
	n := d.length("string")
	if n == 0 {
		return ""
	}
	return string(d.take(n, "string"))
}

// Count reads a list length and checks it against MaxListLen and against the
// remaining input, given that each element takes at least minElem bytes. The
// result is therefore safe to pass to make.
func (d *Dec) Count(minElem int) int {
	n := d.Uvarint()
	if d.err != nil {
		return 0
	}
	if n > MaxListLen {
		d.err = fmt.Errorf("%w: list of %d entries exceeds %d", ErrMalformed, n, MaxListLen)
		return 0
	}
	if n*uint64(max(minElem, 1)) > uint64(d.Len()) {
		d.err = fmt.Errorf("%w: list of %d entries in %d bytes", ErrTruncated, n, d.Len())
		return 0
	}
	return int(n)
}

// Record reads one record; its payload aliases the input.
func (d *Dec) Record() record.Record { return d.recordAfter("") }

// recordAfter is Record sharing prevID's string when the record has that
// producer id (see record.DecodeAfter).
func (d *Dec) recordAfter(prevID string) record.Record {
	if d.err != nil {
		return record.Record{}
	}
	r, n, err := record.DecodeAfter(d.b[d.off:], prevID)
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrMalformed, err)
		return record.Record{}
	}
	d.off += n
	return r
}

// Records reads a count and that many records (nil if none).
func (d *Dec) Records() []record.Record { return d.RecordsUpTo(MaxListLen) }

// RecordsUpTo is Records refusing more than max records with
// ErrTooManyRecords before any memory is set aside for them.
func (d *Dec) RecordsUpTo(max int) []record.Record { return d.RecordsInto(nil, max) }

// RecordsInto is RecordsUpTo decoding into dst's backing array when it has
// room (a reader decoding batch after batch allocates nothing per batch);
// it returns nil for no records or an error, as RecordsUpTo does.
func (d *Dec) RecordsInto(dst []record.Record, max int) []record.Record {
	n := d.Count(minRecordSize)
	if n > max {
		d.Fail(ErrTooManyRecords)
		return nil
	}
	if n == 0 {
		return nil
	}
	var rs []record.Record
	if cap(dst) >= n {
		rs = dst[:n]
	} else {
		rs = make([]record.Record, n)
	}
	prev := ""
	for i := range rs {
		// In place: a record is 72 bytes, copied twice when returned.
		k, err := record.DecodeInto(&rs[i], d.b[d.off:], prev)
		if err != nil {
			d.err = fmt.Errorf("%w: %w", ErrMalformed, err)
			return nil
		}
		d.off += k
		prev = rs[i].ProducerID
	}
	return rs
}
