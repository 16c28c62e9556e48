package topiclog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/logstream/logstream/pkg/record"
)

// On disk a segment is a sequence of entries:
//
//	u32 big-endian body length | u32 big-endian CRC-32C of body | body
//
// where body is record.AppendBinary of one record (its offset included, so
// a misplaced entry is detected as well as a damaged one).
const entryHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn means the bytes end inside an entry: a short write at the tail.
var errTorn = errors.New("topiclog: torn entry")

// appendEntry frames r onto dst.
func appendEntry(dst []byte, r *record.Record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = r.AppendBinary(dst)
	body := dst[start+entryHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// entryLen returns the full entry length announced by a header, or an error
// if the length cannot be right. b must hold at least entryHeader bytes.
func entryLen(b []byte) (int, error) {
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > MaxEntryBytes {
		return 0, fmt.Errorf("%w: entry length %d", ErrCorrupt, n)
	}
	return entryHeader + int(n), nil
}

// decodeEntry checks and decodes one complete entry (header and body).
// The record's payload aliases e.
func decodeEntry(e []byte) (record.Record, error) {
	body := e[entryHeader:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(e[4:]) {
		return record.Record{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	r, n, err := record.Decode(body)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if n != len(body) {
		return r, fmt.Errorf("%w: %d trailing bytes in entry", ErrCorrupt, len(body)-n)
	}
	return r, nil
}

// scanner reads consecutive entries of a segment file with pread, from a
// start position up to a fixed end (a snapshot of the committed size, so
// concurrent appends past it are never seen).
type scanner struct {
	f    io.ReaderAt
	end  int64  // file position where scanning stops
	bpos int64  // file position of buf[0]
	buf  []byte // buffered bytes, buf[off:] unparsed
	off  int
	// fresh makes every refill allocate a new buffer, so records already
	// returned (whose payloads alias the old buffer) stay valid.
	fresh    bool
	chunk    int // next refill size; doubles up to maxChunk
	maxChunk int
	badLen   int // length of an entry whose header is sane but body is not
}

// newScanner scans [start, end) of f. Reads start at min(chunk, 64 KiB)
// bytes and double up to chunk, so a small read never pays for a large
// buffer and a large one takes few syscalls.
func newScanner(f io.ReaderAt, start, end int64, chunk int, fresh bool) *scanner {
	chunk = max(chunk, 4096)
	return &scanner{f: f, end: end, bpos: start, chunk: min(chunk, 64<<10), maxChunk: chunk, fresh: fresh}
}

// pos is the file position of the next entry.
func (s *scanner) pos() int64 { return s.bpos + int64(s.off) }

// next returns the next entry and its position. At the end it returns
// io.EOF; an entry cut short by the end returns errTorn; bad bytes return
// an error wrapping ErrCorrupt. After an error the position stays at the
// start of the offending entry.
func (s *scanner) next() (record.Record, int64, error) {
	e, p, err := s.entry()
	if err != nil {
		return record.Record{}, p, err
	}
	r, err := decodeEntry(e)
	if err != nil {
		s.badLen = len(e)
		return r, p, err
	}
	s.off += len(e)
	return r, p, nil
}

// nextRaw is next without building the record: the checked entry's body
// (the record's encoding, aliasing the scanner's buffer until its next
// call), offset and payload length.
func (s *scanner) nextRaw() (body []byte, off uint64, payload int, p int64, err error) {
	e, p, err := s.entry()
	if err != nil {
		return nil, 0, 0, p, err
	}
	body = e[entryHeader:]
	off, payload, err = checkBody(body, binary.BigEndian.Uint32(e[4:]))
	if err != nil {
		s.badLen = len(e)
		return nil, 0, 0, p, err
	}
	s.off += len(e)
	return body, off, payload, p, nil
}

// checkBody is decodeEntry's check of an entry's body against its checksum
// and the record format, without building the record.
func checkBody(body []byte, sum uint32) (off uint64, payload int, err error) {
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, 0, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	off, payload, n, err := record.Peek(body)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if n != len(body) {
		return 0, 0, fmt.Errorf("%w: %d trailing bytes in entry", ErrCorrupt, len(body)-n)
	}
	return off, payload, nil
}

// entry returns the next whole entry (header and body, aliasing the buffer)
// and its position, checking its length but not its contents.
func (s *scanner) entry() ([]byte, int64, error) {
	s.badLen = 0
	p := s.pos()
	if p >= s.end {
		return nil, p, io.EOF
	}
	if err := s.fill(entryHeader); err != nil {
		return nil, p, err
	}
	n, err := entryLen(s.buf[s.off:])
	if err != nil {
		return nil, p, err
	}
	if err := s.fill(n); err != nil {
		return nil, p, err
	}
	return s.buf[s.off : s.off+n], p, nil
}

// skipBad steps over the entry the last next call rejected for its
// checksum or body, trusting its length field; the caller must check the
// following entry's offset to confirm that trust.
func (s *scanner) skipBad() bool {
	if s.badLen == 0 {
		return false
	}
	s.off += s.badLen
	s.badLen = 0
	return true
}

// fill makes sure at least n unparsed bytes are buffered, or reports
// errTorn when the scan end comes first.
func (s *scanner) fill(n int) error {
	have := len(s.buf) - s.off
	if have >= n {
		return nil
	}
	p := s.pos()
	if s.end-p < int64(n) {
		return errTorn
	}
	want := max(n, s.chunk)
	s.chunk = min(2*s.chunk, s.maxChunk)
	if rest := s.end - p; int64(want) > rest {
		want = int(rest)
	}
	var nb []byte
	if !s.fresh && cap(s.buf) >= want {
		nb = s.buf[:want]
		copy(nb, s.buf[s.off:])
	} else {
		nb = make([]byte, want)
		copy(nb, s.buf[s.off:])
	}
	if _, err := s.f.ReadAt(nb[have:], p+int64(have)); err != nil {
		if errors.Is(err, io.EOF) {
			// The file is shorter than the size we were told: treat like a torn tail.
			return errTorn
		}
		return err
	}
	s.buf, s.off, s.bpos = nb, 0, p
	return nil
}
