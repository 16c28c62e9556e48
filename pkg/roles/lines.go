package roles

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineChunk is the read buffer of a lineReader: a line longer than this is
// gathered from several reads (up to the limit) or counted and dropped.
const lineChunk = 64 << 10

// lineReader splits its input into lines of at most limit bytes. Unlike
// bufio.Scanner, whose "token too long" ends the input, it skips a longer
// line and carries on with the next one. The skipped line is read and
// dropped a chunk at a time, so memory stays bounded by limit plus one
// chunk however long the line is.
type lineReader struct {
	r     *bufio.Reader
	limit int
	num   uint64 // number of the last line returned or skipped (1-based)
	buf   []byte // the line being gathered
}

func newLineReader(in io.Reader, limit int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(in, lineChunk), limit: limit}
}

// longLine is a line skipped for its length.
type longLine struct {
	num  uint64 // its line number
	size int64  // its length in bytes, without the line end
}

// next returns the next line without its end ("\n" or "\r\n", as
// bufio.ScanLines) in a slice of its own; or, for a line over the limit, nil
// and what was skipped. A last line without an end is a line too. At the
// end of the input err is io.EOF; another read error is returned as it is,
// and an unfinished line before it is dropped (it may be cut anywhere).
func (lr *lineReader) next() (line []byte, skipped *longLine, err error) {
	lr.buf = lr.buf[:0]
	var size int64 // bytes of this line read so far, line end included
	for {
		frag, err := lr.r.ReadSlice('\n')
		size += int64(len(frag))
		// Keep two bytes more than the limit: the line end is not counted.
		if size <= int64(lr.limit)+2 {
			lr.buf = append(lr.buf, frag...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue // the line goes on
		case err != nil && (err != io.EOF || size == 0):
			return nil, nil, err
		}
		lr.num++
		tail := frag // the line's end may straddle two pieces: look at all of it when kept
		if size <= int64(lr.limit)+2 {
			tail = lr.buf
		}
		size -= lineEnd(tail)
		if size > int64(lr.limit) {
			return nil, &longLine{num: lr.num, size: size}, nil
		}
		return bytes.Clone(lr.buf[:size]), nil, nil
	}
}

// lineEnd is the length of the line end that b, a line or its last piece,
// ends with: 2 for "\r\n"; 1 for "\n", or for "\r" at the end of the input
// (bufio.ScanLines drops it too); else 0.
func lineEnd(b []byte) int64 {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return 2
	case bytes.HasSuffix(b, []byte("\n")), bytes.HasSuffix(b, []byte("\r")):
		return 1
	}
	return 0
}
