package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
)

// frameSet builds n frames of varied size, a few beyond readChunk.
func frameSet(n int) []Frame {
	fs := make([]Frame, n)
	for i := range fs {
		size := (i * 37) % 500
		if i%97 == 0 {
			size = readChunk*2 + i
		}
		body := bytes.Repeat([]byte{byte(i)}, size)
		fs[i] = Frame{Type: Type(i % 64), Flags: uint16(i), Corr: uint64(i) << 20, Body: body}
	}
	return fs
}

func sameFrame(a, b Frame) bool {
	return a.Type == b.Type && a.Flags == b.Flags && a.Corr == b.Corr && bytes.Equal(a.Body, b.Body)
}

func readAll(t *testing.T, r *Reader, want []Frame) {
	t.Helper()
	for i, w := range want {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !sameFrame(got, w) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReaderPipelinedBytes(t *testing.T) {
	fs := frameSet(500)
	var stream []byte
	for _, f := range fs {
		stream = AppendFrame(stream, f)
	}
	t.Run("whole", func(t *testing.T) { readAll(t, NewReader(bytes.NewReader(stream), 0), fs) })
	t.Run("one byte at a time", func(t *testing.T) {
		readAll(t, NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0), fs)
	})
	t.Run("half reads", func(t *testing.T) { readAll(t, NewReader(iotest.HalfReader(bytes.NewReader(stream)), 0), fs) })
}

func TestReaderPipelinedNetPipe(t *testing.T) {
	fs := frameSet(1000)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	// A deadline bounds the test should a frame never arrive; it is not a
	// timing assertion.
	if err := b.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		// Write in odd-sized pieces so frames straddle writes.
		var stream []byte
		for _, f := range fs {
			stream = AppendFrame(stream, f)
		}
		for len(stream) > 0 {
			n := min(len(stream), 1000+len(stream)%333)
			if _, err := a.Write(stream[:n]); err != nil {
				done <- err
				return
			}
			stream = stream[n:]
		}
		done <- a.Close()
	}()
	readAll(t, NewReader(b, 0), fs)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestReaderTruncatedStream(t *testing.T) {
	full := AppendFrame(nil, testFrame())
	for i := 1; i < len(full); i++ {
		r := NewReader(bytes.NewReader(full[:i]), 0)
		_, err := r.Next()
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("stream cut after %d bytes: %v", i, err)
		}
	}
	if _, err := NewReader(bytes.NewReader(nil), 0).Next(); err != io.EOF {
		t.Fatalf("empty stream: %v", err)
	}
}

func TestReaderErrorsAreSticky(t *testing.T) {
	bad := AppendFrame(nil, testFrame())
	bad[len(bad)-1] ^= 1
	stream := AppendFrame(bad, testFrame())
	r := NewReader(bytes.NewReader(stream), 0)
	_, err1 := r.Next()
	_, err2 := r.Next()
	if !errors.Is(err1, ErrChecksum) || err2 != err1 {
		t.Fatalf("got %v then %v, want the same checksum error twice", err1, err2)
	}
}

// flakyReader fails its first read, as a read deadline would.
type flakyReader struct {
	r      io.Reader
	failed bool
}

var errFlaky = errors.New("flaky")

func (f *flakyReader) Read(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errFlaky
	}
	return f.r.Read(p)
}

func TestReaderRetryBetweenFrames(t *testing.T) {
	r := NewReader(&flakyReader{r: bytes.NewReader(AppendFrame(nil, testFrame()))}, 0)
	if _, err := r.Next(); !errors.Is(err, errFlaky) {
		t.Fatalf("first Next: %v", err)
	}
	f, err := r.Next()
	if err != nil || !sameFrame(f, testFrame()) {
		t.Fatalf("retry: %+v, %v", f, err)
	}
}

// forged returns a stream whose header claims a 4 GiB-1 body followed by
// only sent bytes of it.
func forged(sent int64) io.Reader {
	var h [HeaderSize]byte
	putHeader(h[:], Frame{Type: TypeProduce})
	binary.BigEndian.PutUint32(h[14:], math.MaxUint32)
	return io.MultiReader(bytes.NewReader(h[:]), io.LimitReader(zeros{}, sent))
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// allocated reports the bytes allocated while running f.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReaderForgedLength(t *testing.T) {
	// Default limit: refused from the header alone.
	r := NewReader(forged(1<<20), 0)
	var err error
	n := allocated(func() { _, err = r.Next() })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("4 GB length: %v", err)
	}
	if n > 16<<10 {
		t.Fatalf("refusing a 4 GB length allocated %d bytes", n)
	}

	// Even with the limit raised to the maximum, memory follows the bytes
	// actually received (here 300 KB), not the length claimed.
	if math.MaxInt == math.MaxInt32 {
		t.Skip("32-bit int cannot express a 4 GB limit")
	}
	const sent = 300 << 10
	r = NewReader(forged(sent), math.MaxUint32)
	n = allocated(func() { _, err = r.Next() })
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("short 4 GB body: %v", err)
	}
	t.Logf("forged body: %d bytes received, %d allocated", sent, n)
	if n > 2*sent {
		t.Fatalf("receiving %d bytes of a forged 4 GB body allocated %d bytes", sent, n)
	}
}

func TestReaderBadHeader(t *testing.T) {
	for _, c := range []struct {
		at   int
		want error
	}{{0, ErrBadMagic}, {2, ErrBadVersion}, {14, ErrTooLarge}, {10, ErrChecksum}} {
		b := AppendFrame(nil, testFrame())
		b[c.at] ^= 0x80
		if _, err := NewReader(bytes.NewReader(b), 0).Next(); !errors.Is(err, c.want) {
			t.Errorf("flip in byte %d: %v, want %v", c.at, err, c.want)
		}
	}
}

func ExampleReader() {
	var stream []byte
	stream = AppendFrame(stream, Encode(&Heartbeat{NodeID: "node1", Role: RoleBroker, Seq: 1}, 0))
	stream = AppendFrame(stream, Encode(&ElectionTrigger{}, 5))
	r := NewReader(bytes.NewReader(stream), 0)
	for {
		f, err := r.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		m, err := f.Message()
		fmt.Println(f.Type, f.Corr, m != nil, err)
	}
	// Output:
	// HEARTBEAT 0 true <nil>
	// ELECTION_TRIGGER 5 true <nil>
	// EOF
}

// A body of up to two chunks (a batch of 1000 small records) is read into
// one buffer of its size: it used to be read in chunks and joined, twice
// its size allocated and all of it copied once more.
func TestReaderBodyOneBuffer(t *testing.T) {
	body := bytes.Repeat([]byte{7}, 2*readChunk-100)
	stream := AppendFrame(nil, Frame{Type: TypeRecords, Corr: 1, Body: body})
	r := NewReader(bytes.NewReader(stream), 0)
	var f Frame
	var err error
	n := allocated(func() { f, err = r.Next() })
	if err != nil || !bytes.Equal(f.Body, body) {
		t.Fatalf("Next: %v", err)
	}
	if n > uint64(len(body))+readBufSize+16<<10 {
		t.Fatalf("reading a %d-byte body allocated %d bytes", len(body), n)
	}
}

// A reusing Reader returns the same frames as one that allocates, and
// reads a stream of same-sized frames without allocating per frame; a body
// beyond maxKeptBody is not kept for the next frame.
func TestReaderReuse(t *testing.T) {
	fs := frameSet(300)
	fs = append(fs, Frame{Type: TypeRecords, Body: bytes.Repeat([]byte{9}, maxKeptBody+1)}, Frame{Type: TypeRecords, Body: []byte("after")})
	var stream []byte
	for _, f := range fs {
		stream = AppendFrame(stream, f)
	}
	r := NewReader(bytes.NewReader(stream), maxKeptBody+2)
	r.Reuse()
	readAll(t, r, fs)
	if cap(r.buf) > maxKeptBody {
		t.Fatalf("kept a %d-byte body buffer, bound %d", cap(r.buf), maxKeptBody)
	}

	body := bytes.Repeat([]byte{3}, 120<<10) // a RECORDS frame of 1000 records
	one := AppendFrame(nil, Frame{Type: TypeRecords, Body: body})
	src := bytes.NewReader(one)
	r = NewReader(src, 0)
	r.Reuse()
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(one)
		if f, err := r.Next(); err != nil || !bytes.Equal(f.Body, body) {
			t.Fatalf("Next: %v", err)
		}
	})
	if allocs > 0 {
		t.Errorf("a reusing Reader allocated %.0f times per frame, want 0", allocs)
	}
}

// A body handed back with Recycle is read into by the next Next only (the
// one after that allocates again), and the frames read are the same.
func TestReaderRecycle(t *testing.T) {
	a := bytes.Repeat([]byte{1}, 120<<10)
	b := bytes.Repeat([]byte{2}, 100<<10)
	c := bytes.Repeat([]byte{3}, 100<<10)
	var stream []byte
	for _, body := range [][]byte{a, b, c} {
		stream = AppendFrame(stream, Frame{Type: TypeProduce, Body: body})
	}
	r := NewReader(bytes.NewReader(stream), 0)
	f1, err := r.Next()
	if err != nil || !bytes.Equal(f1.Body, a) {
		t.Fatalf("first frame: %v", err)
	}
	r.Recycle(f1.Body)
	f2, err := r.Next()
	if err != nil || !bytes.Equal(f2.Body, b) {
		t.Fatalf("second frame: %v", err)
	}
	if &f2.Body[0] != &f1.Body[0] {
		t.Fatal("the second frame was not read into the recycled body")
	}
	f3, err := r.Next()
	if err != nil || !bytes.Equal(f3.Body, c) {
		t.Fatalf("third frame: %v", err)
	}
	if &f3.Body[0] == &f2.Body[0] {
		t.Fatal("the third frame was read into the second's body, which was not recycled")
	}
}
