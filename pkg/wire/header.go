package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/logstream/logstream/pkg/defaults"
)

// Header layout and limits.
const (
	Magic           uint16 = 0x4C53 // "LS"
	Version         uint8  = 1
	HeaderSize             = 22                // magic(2) version(1) type(1) flags(2) corr(8) length(4) crc32c(4)
	DefaultMaxFrame        = defaults.MaxFrame // max body bytes unless a Reader or DecodeFrame call says otherwise

	crcOffset = 18 // the CRC covers header[:crcOffset] and the body
)

// Framing errors. Each is matched with errors.Is; the returned errors add the
// details. ErrTooLarge is the ErrCode of the same name (see ErrCode).
var (
	ErrBadMagic   = errors.New("wire: bad magic")
	ErrBadVersion = errors.New("wire: unsupported version")
	ErrChecksum   = errors.New("wire: checksum mismatch")
	ErrTruncated  = errors.New("wire: truncated")
	// ErrMalformed reports a message body that is structurally wrong in a way
	// other than being short: trailing bytes, a bad bool, too many entries.
	ErrMalformed = errors.New("wire: malformed body")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame is one unit on the wire.
type Frame struct {
	Type  Type
	Flags uint16 // reserved; receivers ignore bits they do not know
	Corr  uint64 // correlation id echoed in the reply; 0 = unsolicited
	Body  []byte
}

// putHeader fills h (HeaderSize bytes) for f, checksum included.
func putHeader(h []byte, f Frame) {
	if uint64(len(f.Body)) > math.MaxUint32 {
		// A body this size can never be sent; it is a caller bug, not input.
		panic(fmt.Sprintf("wire: %v body of %d bytes cannot be framed", f.Type, len(f.Body)))
	}
	binary.BigEndian.PutUint16(h[0:], Magic)
	h[2] = Version
	h[3] = byte(f.Type)
	binary.BigEndian.PutUint16(h[4:], f.Flags)
	binary.BigEndian.PutUint64(h[6:], f.Corr)
	binary.BigEndian.PutUint32(h[14:], uint32(len(f.Body)))
	sum := crc32.Update(crc32.Update(0, castagnoli, h[:crcOffset]), castagnoli, f.Body)
	binary.BigEndian.PutUint32(h[crcOffset:], sum)
}

// AppendFrame appends the encoding of f to dst. It does not check a maximum
// size: that is the receiver's decision (Conn.Send checks its own limit).
// It panics only if the body exceeds 4 GiB-1, which no caller can mean.
func AppendFrame(dst []byte, f Frame) []byte {
	// The header is written in place: a header array of its own escaped
	// to the heap (the checksum's table call hides where it goes), one
	// allocation per frame sent.
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	putHeader(dst[start:], f)
	return append(dst, f.Body...)
}

// AppendMessage appends the frame of m (what AppendFrame(dst, Encode(m,
// corr)) appends) encoding the body in place after the header: no body is
// allocated and copied, which for a RECORDS frame of a catch-up read was a
// 120 KB allocation, zeroing and copy per frame.
func AppendMessage(dst []byte, m Message, corr uint64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = m.AppendTo(dst)
	putHeader(dst[start:], Frame{Type: m.Type(), Corr: corr, Body: dst[start+HeaderSize:]})
	return dst
}

// header is a parsed, not yet checksum-verified header.
type header struct {
	typ   Type
	flags uint16
	corr  uint64
	n     int // body length, already checked against the limit
	sum   uint32
}

// limit maps a caller's maxBody to the effective one: <= 0 means default.
func limit(maxBody int) int {
	if maxBody <= 0 {
		return DefaultMaxFrame
	}
	return maxBody
}

// parseHeader validates everything in h that can be validated before the
// body is read, so an oversized length is refused before any allocation.
func parseHeader(h []byte, maxBody int) (header, error) {
	if m := binary.BigEndian.Uint16(h[0:]); m != Magic {
		return header{}, fmt.Errorf("%w %#04x", ErrBadMagic, m)
	}
	if v := h[2]; v != Version {
		return header{}, fmt.Errorf("%w %d (want %d)", ErrBadVersion, v, Version)
	}
	n := binary.BigEndian.Uint32(h[14:])
	if uint64(n) > uint64(limit(maxBody)) {
		return header{}, fmt.Errorf("wire: frame %w: body of %d bytes exceeds limit of %d", ErrTooLarge, n, limit(maxBody))
	}
	return header{
		typ:   Type(h[3]),
		flags: binary.BigEndian.Uint16(h[4:]),
		corr:  binary.BigEndian.Uint64(h[6:]),
		n:     int(n),
		sum:   binary.BigEndian.Uint32(h[crcOffset:]),
	}, nil
}

// verify checks the checksum of a header and its body.
func (hd header) verify(h, body []byte) error {
	if got := crc32.Update(crc32.Update(0, castagnoli, h[:crcOffset]), castagnoli, body); got != hd.sum {
		return fmt.Errorf("%w: %v frame crc %#08x, computed %#08x", ErrChecksum, hd.typ, hd.sum, got)
	}
	return nil
}

// DecodeFrame decodes the frame at the front of b (typically a whole UDP
// datagram) and returns it with the number of bytes it occupied. maxBody <= 0
// means DefaultMaxFrame. The returned Body aliases b. A datagram should hold
// exactly one frame; callers that care compare n with len(b).
func DecodeFrame(b []byte, maxBody int) (Frame, int, error) {
	if len(b) < HeaderSize {
		return Frame{}, 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	h := b[:HeaderSize]
	hd, err := parseHeader(h, maxBody)
	if err != nil {
		return Frame{}, 0, err
	}
	if len(b)-HeaderSize < hd.n {
		return Frame{}, 0, fmt.Errorf("%w: %v body of %d bytes, %d present", ErrTruncated, hd.typ, hd.n, len(b)-HeaderSize)
	}
	end := HeaderSize + hd.n
	body := b[HeaderSize:end:end]
	if err := hd.verify(h, body); err != nil {
		return Frame{}, 0, err
	}
	return Frame{Type: hd.typ, Flags: hd.flags, Corr: hd.corr, Body: body}, end, nil
}
