// Package record defines the unit LogStream stores and streams: one record of
// one topic, and its compact binary form. The same encoding travels inside
// wire messages and sits inside the on-disk log, so a record is never
// re-shaped between the network and the disk.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// MaxProducerID bounds the producer id so a hostile length cannot make a
// decoder allocate.
const MaxProducerID = 255

// Record is one entry of a topic log.
//
// Offset is assigned by the topic's owner and is dense from 0. ProducerID and
// Seq identify the record for de-duplication: a producer numbers its records
// 1, 2, 3… and a broker stores each (ProducerID, Seq) once.
type Record struct {
	Offset     uint64
	Timestamp  int64 // Unix nanoseconds, set by the producer
	ProducerID string
	Seq        uint64
	Payload    []byte
}

// errCorrupt is returned for any encoding that cannot be a record.
var errCorrupt = errors.New("record: corrupt encoding")

// Size returns an upper bound of the encoded size of r.
func (r *Record) Size() int {
	return 4*binary.MaxVarintLen64 + 1 + len(r.ProducerID) + len(r.Payload)
}

// AppendBinary appends the encoding of r to dst:
// uvarint offset, varint timestamp, u8 len + producer id, uvarint seq,
// uvarint len + payload.
func (r *Record) AppendBinary(dst []byte) []byte {
	pid := r.ProducerID
	if len(pid) > MaxProducerID {
		pid = pid[:MaxProducerID]
	}
	// Grown once and written by index: appending byte by byte (a current
	// time alone is nine bytes) was most of a broker's cost of storing a
	// record, and a broker encodes every record it stores or replicates.
	n := len(dst)
	dst = slices.Grow(dst, 4*binary.MaxVarintLen64+1+len(pid)+len(r.Payload))
	b := dst[:cap(dst)]
	n = putUvarint(b, n, r.Offset)
	n = putUvarint(b, n, uint64(r.Timestamp<<1)^uint64(r.Timestamp>>63)) // zig-zag, as binary.AppendVarint
	b[n] = byte(len(pid))
	n++
	n += copy(b[n:], pid)
	n = putUvarint(b, n, r.Seq)
	n = putUvarint(b, n, uint64(len(r.Payload)))
	n += copy(b[n:], r.Payload)
	return b[:n]
}

// putUvarint writes v as binary.PutUvarint would at b[n:] and returns the
// position after it. b must have binary.MaxVarintLen64 bytes from n on: a
// varint of two bytes or more is written eight bytes at once, its 7-bit
// groups spread in three steps (the reverse of uvarintLong), and bytes past
// its end are overwritten by whatever the caller writes next.
func putUvarint(b []byte, n int, v uint64) int {
	if v < 0x80 {
		b[n] = byte(v)
		return n + 1
	}
	k := (bits.Len64(v) + 6) / 7 // the varint's bytes, 2 to 10
	x := v & (1<<56 - 1)
	x = x&0x000000000fffffff | x&0x00fffffff0000000<<4
	x = x&0x00003fff00003fff | x&0x0fffc0000fffc000<<2
	x = x&0x007f007f007f007f | x&0x3f803f803f803f80<<1
	if k <= 8 {
		binary.LittleEndian.PutUint64(b[n:], x|0x8080808080808080>>(72-8*k))
		return n + k
	}
	binary.LittleEndian.PutUint64(b[n:], x|0x8080808080808080)
	if k == 9 {
		b[n+8] = byte(v >> 56)
		return n + 9
	}
	b[n+8] = byte(v>>56) | 0x80
	b[n+9] = byte(v >> 63)
	return n + 10
}

// Decode reads one record from the front of b and returns it with the number
// of bytes consumed. The payload aliases b; callers that keep it past the life
// of b must copy it.
func Decode(b []byte) (Record, int, error) { return DecodeAfter(b, "") }

// DecodeAfter is Decode for a record that likely has the producer id prevID
// (the one before it in a batch: a batch is nearly always one producer's).
// When it does, the record shares prevID's string instead of allocating
// its own: one allocation per batch instead of one per record.
func DecodeAfter(b []byte, prevID string) (Record, int, error) {
	var r Record
	n, err := DecodeInto(&r, b, prevID)
	if err != nil {
		return Record{}, 0, err
	}
	return r, n, nil
}

// DecodeInto is DecodeAfter decoding into *r (every field is set), so a
// batch decodes in place into its slice without copying each record; on an
// error *r holds garbage.
func DecodeInto(r *Record, b []byte, prevID string) (int, error) {
	v, n := uvarint(b, 0)
	if n < 0 {
		return 0, errCorrupt
	}
	r.Offset = v
	v, n = uvarint(b, n)
	if n < 0 {
		return 0, errCorrupt
	}
	r.Timestamp = int64(v>>1) ^ -int64(v&1) // zig-zag, as binary.Varint
	if n >= len(b) {
		return 0, errCorrupt
	}
	pl := int(b[n])
	n++
	if len(b)-n < pl {
		return 0, errCorrupt
	}
	if pid := b[n : n+pl]; string(pid) == prevID { // compared without a conversion
		r.ProducerID = prevID
	} else {
		r.ProducerID = string(pid)
	}
	n += pl
	if r.Seq, n = uvarint(b, n); n < 0 {
		return 0, errCorrupt
	}
	v, n = uvarint(b, n)
	if n < 0 {
		return 0, errCorrupt
	}
	if v > uint64(len(b)-n) {
		return 0, fmt.Errorf("%w: payload length %d beyond %d bytes left", errCorrupt, v, len(b)-n)
	}
	r.Payload, n = b[n:n+int(v):n+int(v)], n+int(v)
	return n, nil
}

// uvarintLong is uvarint for a varint of two bytes or more with ten bytes
// at hand: eight bytes are taken at once, the first without its top bit
// ends the varint, and the 7-bit groups before it are packed in three
// steps. A current time (nine bytes) took half of a batch's decoding byte
// by byte.
func uvarintLong(b []byte, n int) (uint64, int) {
	x := binary.LittleEndian.Uint64(b[n:])
	m := ^x & 0x8080808080808080
	k := 8 // bytes of the varint among these eight
	if m != 0 {
		k = bits.TrailingZeros64(m)/8 + 1
		x &= ^uint64(0) >> (64 - 8*k)
	}
	x &= 0x7f7f7f7f7f7f7f7f
	x = x&0x007f007f007f007f | x&0x7f007f007f007f00>>1
	x = x&0x00003fff00003fff | x&0x3fff00003fff0000>>2
	x = x&0x000000000fffffff | x&0x0fffffff00000000>>4
	if m != 0 {
		return x, n + k
	}
	if c := b[n+8]; c < 0x80 { // the ninth byte ends it
		return x | uint64(c)<<56, n + 9
	}
	if c := b[n+9]; c <= 1 { // the tenth may only hold the 64th bit
		return x | uint64(b[n+8]&0x7f)<<56 | uint64(c)<<63, n + 10
	}
	return 0, -1
}

// uvarint decodes the uvarint at b[n:] and returns it with the position
// after it, or a negative position for what binary.Uvarint refuses (cut
// short, longer than ten bytes, overflowing 64 bits). Unlike
// binary.Uvarint it takes the position, so the decoder never reslices.
func uvarint(b []byte, n int) (uint64, int) {
	if n+binary.MaxVarintLen64 <= len(b) && b[n] >= 0x80 {
		return uvarintLong(b, n)
	}
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64 && n+i < len(b); i++ {
		c := b[n+i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<s, n + i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, -1
}

// Peek checks that b begins with one well-formed record, as Decode would,
// without building it: it returns the record's offset, its payload's length
// and the bytes it takes. For callers that pass records on encoded (a
// broker copying stored records into a frame) and need only these.
func Peek(b []byte) (offset uint64, payload, n int, err error) {
	offset, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, 0, errCorrupt
	}
	// The timestamp (nine bytes for a current time) and the sequence number
	// are stepped over, not decoded: a broker streaming a catch-up read
	// peeks at every record it sends.
	var ok bool
	if n, ok = skipVarint(b, k); !ok {
		return 0, 0, 0, errCorrupt
	}
	if n >= len(b) {
		return 0, 0, 0, errCorrupt
	}
	n += 1 + int(b[n])
	if n > len(b) {
		return 0, 0, 0, errCorrupt
	}
	if n, ok = skipVarint(b, n); !ok {
		return 0, 0, 0, errCorrupt
	}
	v, k := binary.Uvarint(b[n:])
	if k <= 0 {
		return 0, 0, 0, errCorrupt
	}
	n += k
	if v > uint64(len(b)-n) {
		return 0, 0, 0, fmt.Errorf("%w: payload length %d beyond %d bytes left", errCorrupt, v, len(b)-n)
	}
	return offset, int(v), n + int(v), nil
}

// skipVarint returns the position after the varint at b[n:], refusing
// exactly what binary.Uvarint (and so binary.Varint) refuses: a varint cut
// short, longer than ten bytes, or overflowing 64 bits.
func skipVarint(b []byte, n int) (int, bool) {
	if n+binary.MaxVarintLen64 <= len(b) {
		// Eight bytes at once: the first without its top bit ends the
		// varint. A current time takes nine bytes: then the ninth ends
		// it, or the tenth, which may only be 0 or 1.
		x := binary.LittleEndian.Uint64(b[n:])
		if m := ^x & 0x8080808080808080; m != 0 {
			return n + bits.TrailingZeros64(m)/8 + 1, true
		}
		if b[n+8] < 0x80 {
			return n + 9, true
		}
		if b[n+9] <= 1 {
			return n + 10, true
		}
		return 0, false
	}
	for i := 0; i < binary.MaxVarintLen64 && n+i < len(b); i++ {
		if c := b[n+i]; c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, false
			}
			return n + i + 1, true
		}
	}
	return 0, false
}
