package roles

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// lineChunk is the read buffer of a lineReader: a line longer than this is
// gathered from several reads (up to the limit) or handled a chunk at a time.
const lineChunk = 64 << 10

// lineSlab is how much memory one allocation gives the lines the producer
// queues: lines are copied one after another into a slab, so a line costs
// a copy but no allocation of its own (nor the garbage collector's work on
// one). A slab is freed once every record in it is acknowledged; since
// records are acknowledged in order, the slabs alive hold at most the
// unacknowledged lines and one slab more. Lines over lineSlab/8 get their
// own allocation, so a slab wastes at most an eighth of itself.
const lineSlab = 64 << 10

// longLines is what the producer does with a line longer than the largest
// record (-long-lines).
type longLines int

const (
	longSkip     longLines = iota // report it and drop it
	longSplit                     // send it as several records of at most the limit
	longTruncate                  // send its first limit bytes
)

// longLinesWords are the -long-lines values; the flag's default is the first.
var longLinesWords = []string{longSkip: "skip", longSplit: "split", longTruncate: "truncate"}

func parseLongLines(s string) (longLines, error) {
	for i, w := range longLinesWords {
		if s == w {
			return longLines(i), nil
		}
	}
	return longSkip, fmt.Errorf("want skip, split or truncate")
}

// lineReader splits its input into lines of at most limit bytes. Unlike
// bufio.Scanner, whose "token too long" ends the input, it handles a longer
// line as mode says and carries on with the next one. A long line is never
// held whole: memory stays bounded by limit plus one chunk however long the
// line is.
type lineReader struct {
	r     *bufio.Reader
	limit int
	mode  longLines
	num   uint64 // number of the last line returned or skipped (1-based)
	buf   []byte // the line being gathered
	slab  []byte // where own copies lines to; its free room is cap - len
	// slabs, if set, supplies the slabs and takes back each one own has
	// filled (the feed reuses a slab once all its lines are acknowledged);
	// nil: every slab is a new allocation.
	slabs slabSource

	// split mode: the current line's bytes read but not yet returned (at
	// most limit plus a chunk), the pieces returned and their bytes.
	pieces int
	sent   int64
	eof    bool
}

func newLineReader(in io.Reader, limit int, mode longLines) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(in, lineChunk), limit: limit, mode: mode}
}

// longLine reports a line longer than the limit, with what was done to it.
type longLine struct {
	num    uint64 // its line number
	size   int64  // its length in bytes, without the line end
	pieces int    // split: the records it became
}

// next returns the next line without its end ("\n" or "\r\n", as
// bufio.ScanLines) in a slice of its own. A line over the limit is, by
// mode: skipped (nil, and its report); truncated (its first limit bytes,
// and its report); or split (one piece of at most limit bytes per call, the
// last with the report). A last line without an end is a line too. At the
// end of the input err is io.EOF; another read error is returned as it is,
// and an unfinished line before it is dropped (it may be cut anywhere).
func (lr *lineReader) next() (line []byte, long *longLine, err error) {
	if lr.mode == longSplit {
		return lr.nextPiece()
	}
	lr.buf = lr.buf[:0]
	var size int64 // bytes of this line read so far, line end included
	for {
		frag, err := lr.r.ReadSlice('\n')
		if size == 0 && err == nil && len(frag) <= lr.limit+1 {
			// The common case: a whole line of at most limit bytes plus its
			// "\n" (a "\r\n" line of limit bytes takes the long way), copied
			// once, from the read buffer.
			lr.num++
			return lr.own(frag[:len(frag)-int(lineEnd(frag))]), nil, nil
		}
		size += int64(len(frag))
		// Keep up to two bytes more than the limit: the line end is not
		// counted, and truncate sends the first limit bytes.
		if room := lr.limit + 2 - len(lr.buf); room > 0 {
			lr.buf = append(lr.buf, frag[:min(room, len(frag))]...)
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
		switch {
		case size <= int64(lr.limit):
			return lr.own(lr.buf[:size]), nil, nil
		case lr.mode == longTruncate:
			return lr.own(lr.buf[:lr.limit]), &longLine{num: lr.num, size: size}, nil
		}
		return nil, &longLine{num: lr.num, size: size}, nil
	}
}

// nextPiece is next in split mode. lr.buf holds the current line's bytes
// not yet returned. Once it holds limit+2 bytes and no line end, the line
// is longer than limit (an end right after limit bytes would be "\n" or
// "\r\n", and a '\n' ends what ReadSlice returns), so its first limit bytes
// go as a piece before the rest of the line is read.
func (lr *lineReader) nextPiece() ([]byte, *longLine, error) {
	for {
		ended := lr.eof || len(lr.buf) > 0 && lr.buf[len(lr.buf)-1] == '\n'
		if lr.eof && len(lr.buf) == 0 && lr.pieces == 0 {
			return nil, nil, io.EOF
		}
		if ended {
			if content := len(lr.buf) - int(lineEnd(lr.buf)); content <= lr.limit {
				return lr.lastPiece(content), lr.splitReport(content), nil
			}
		}
		if ended || len(lr.buf) >= lr.limit+2 {
			piece := lr.own(lr.buf[:lr.limit])
			lr.buf = append(lr.buf[:0], lr.buf[lr.limit:]...)
			lr.pieces++
			lr.sent += int64(lr.limit)
			return piece, nil, nil
		}
		frag, err := lr.r.ReadSlice('\n')
		lr.buf = append(lr.buf, frag...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			lr.eof = true
		case err != nil:
			lr.buf, lr.pieces, lr.sent = lr.buf[:0], 0, 0
			return nil, nil, err
		}
	}
}

// lastPiece returns the current line's last content bytes and starts the
// next line.
func (lr *lineReader) lastPiece(content int) []byte {
	piece := lr.own(lr.buf[:content])
	lr.buf = lr.buf[:0]
	lr.num++
	return piece
}

// splitReport is the report of a line that lastPiece just ended, if it was
// split (nil otherwise), and resets the split counters.
func (lr *lineReader) splitReport(last int) *longLine {
	var rep *longLine
	if lr.pieces > 0 {
		rep = &longLine{num: lr.num, size: lr.sent + int64(last), pieces: lr.pieces + 1}
	}
	lr.pieces, lr.sent = 0, 0
	return rep
}

// own returns a copy of b that the reader will not touch again (never
// nil, so an empty line is not mistaken for a skipped one), cut from the
// current slab. Its capacity ends with it: appending to it cannot reach the
// next line.
func (lr *lineReader) own(b []byte) []byte {
	if len(b) > lineSlab/8 {
		return append(make([]byte, 0, len(b)), b...)
	}
	if lr.slab == nil || cap(lr.slab)-len(lr.slab) < len(b) {
		switch {
		case lr.slabs == nil:
			lr.slab = make([]byte, 0, lineSlab)
		case lr.slab == nil:
			lr.slab = lr.slabs.get()
		default:
			lr.slabs.filled(lr.slab)
			lr.slab = lr.slabs.get()
		}
	}
	start := len(lr.slab)
	lr.slab = append(lr.slab, b...)
	return lr.slab[start:len(lr.slab):len(lr.slab)]
}

// slabSource supplies a lineReader's slabs (empty, lineSlab bytes of room)
// and takes back each one it filled, whose lines it will not touch again.
type slabSource interface {
	get() []byte
	filled(slab []byte)
}

// ready reports whether a whole line is already buffered, so that next
// returns without reading the input. It may say false when next would not
// read after all (a long line being split); callers use it only to hand
// over what they hold before next may block in a read.
func (lr *lineReader) ready() bool {
	buffered, _ := lr.r.Peek(lr.r.Buffered())
	return bytes.IndexByte(buffered, '\n') >= 0
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
