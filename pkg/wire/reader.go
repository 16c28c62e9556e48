package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// readChunk bounds how much body memory is set aside ahead of the bytes that
// actually arrived: a large body is read in chunks of this size until at
// most two chunks of it are left, and only then given its final buffer, so
// a peer that claims N bytes and sends K makes us hold K+2·readChunk.
const readChunk = 64 << 10

// readBufSize is the stream buffer: large enough that small pipelined frames
// cost one read system call per buffer, not two per frame.
const readBufSize = 64 << 10

// Reader reads frames from a stream. It is not safe for concurrent use.
//
// Any framing error, and any read error in the middle of a frame, is final:
// the stream's framing is lost, Next keeps returning the same error, and the
// caller must close the connection. A read error before the first byte of a
// frame (for example a read deadline used to poll for shutdown) is returned
// as is and Next may be called again.
type Reader struct {
	r   *bufio.Reader
	max int
	hdr [HeaderSize]byte
	err error // sticky
	// reuse: each body is read into buf, overwritten by the next call (see
	// Reuse); else every body is freshly allocated.
	reuse bool
	buf   []byte
	// spare: a body handed back with Recycle, read into by the next call.
	spare []byte
}

// maxKeptBody bounds the body buffer a reusing Reader keeps between frames:
// one frame near the maximum size must not pin that much memory for the
// life of the connection.
const maxKeptBody = 4 << 20

// Reuse makes every later Next read its body into one buffer the Reader
// keeps, valid only until the next call: for a reader that is done with a
// frame before it asks for the next (a consumer printing a batch), which
// then costs no allocation, no zeroing and no garbage per frame. The
// memory bound is the same as without: the buffer grows only as bytes
// arrive (see readBody).
func (r *Reader) Reuse() { r.reuse = true }

// Recycle hands back a body Next returned that the caller is done with
// (nothing refers to it any more): the next Next reads into it if it has
// room, instead of allocating. For a reader that is done with some frames
// before the next and not with others (a broker's PRODUCE acknowledged at
// once, or still replicating).
func (r *Reader) Recycle(body []byte) {
	if !r.reuse && cap(body) <= maxKeptBody {
		r.spare = body[:0]
	}
}

// NewReader returns a Reader over r refusing bodies larger than maxBody
// (<= 0 means DefaultMaxFrame). The Reader buffers: once it is in use, read r
// only through it.
func NewReader(r io.Reader, maxBody int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < HeaderSize {
		br = bufio.NewReaderSize(r, readBufSize)
	}
	return &Reader{r: br, max: limit(maxBody)}
}

// Buffered is how many bytes have been read from the stream and not yet
// taken by Next.
func (r *Reader) Buffered() int { return r.r.Buffered() }

// Wait blocks until at least one byte of the next frame can be read, and
// takes none: after an error (a read deadline that passed) the stream is as
// it was, and the error is not kept, so a later Next reads the frame whole.
func (r *Reader) Wait() error {
	if r.err != nil {
		return r.err
	}
	_, err := r.r.Peek(1)
	return err
}

// Next returns the next frame. Body is freshly allocated and owned by the
// caller (after Reuse: the Reader's, until the next call). At a clean end of stream (between frames) it returns io.EOF; an
// end of stream inside a frame is ErrTruncated (also io.ErrUnexpectedEOF).
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	n, err := io.ReadFull(r.r, r.hdr[:])
	if err != nil {
		if n == 0 {
			// Nothing of a frame consumed: the stream is still in sync.
			// EOF here is the peer closing cleanly.
			return Frame{}, err
		}
		return Frame{}, r.fail(fmt.Errorf("%w: header after %d of %d bytes: %w", ErrTruncated, n, HeaderSize, unexpected(err)))
	}
	hd, err := parseHeader(r.hdr[:], r.max)
	if err != nil {
		return Frame{}, r.fail(err)
	}
	var body []byte
	var got int
	if r.reuse {
		if cap(r.buf) > maxKeptBody {
			r.buf = nil
		}
		body, got, err = readBodyInto(r.r, hd.n, r.buf)
		if body != nil {
			r.buf = body[:0]
		}
	} else {
		body, got, err = readBodyInto(r.r, hd.n, r.spare)
		r.spare = nil
	}
	if err != nil {
		return Frame{}, r.fail(fmt.Errorf("%w: %v body after %d of %d bytes: %w", ErrTruncated, hd.typ, got, hd.n, unexpected(err)))
	}
	if err := hd.verify(r.hdr[:], body); err != nil {
		return Frame{}, r.fail(err)
	}
	return Frame{Type: hd.typ, Flags: hd.flags, Corr: hd.corr, Body: body}, nil
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// unexpected turns a bare EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readBody reads exactly n bytes, allocating only as data arrives. On error
// it returns the number of bytes read so far.
//
// A body of up to two chunks (a PRODUCE or RECORDS frame of 1000 records of
// 100 bytes is 110-130 KB) is read straight into its final buffer: one
// allocation, no copy. Larger ones pay one copy of what came before their
// last two chunks.
func readBody(r io.Reader, n int) ([]byte, int, error) { return readBodyInto(r, n, nil) }

// readBodyInto is readBody reading into buf when it has room for n bytes
// (those bytes are then overwritten, nothing is allocated); else as
// readBody.
func readBodyInto(r io.Reader, n int, buf []byte) ([]byte, int, error) {
	if cap(buf) >= n {
		b := buf[:n]
		got, err := io.ReadFull(r, b)
		if err != nil {
			return nil, got, err
		}
		return b, got, nil
	}
	var chunks [][]byte
	got := 0
	for n-got > 2*readChunk {
		c := make([]byte, readChunk)
		k, err := io.ReadFull(r, c)
		got += k
		if err != nil {
			return nil, got, err
		}
		chunks = append(chunks, c)
	}
	b := make([]byte, n)
	off := 0
	for _, c := range chunks {
		off += copy(b[off:], c)
	}
	k, err := io.ReadFull(r, b[got:])
	got += k
	if err != nil {
		return nil, got, err
	}
	return b, got, nil
}
