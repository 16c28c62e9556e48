package roles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/wire"
	"github.com/rs/zerolog"
)

// recordingBroker is a stand-in broker on 127.0.0.1: it answers METADATA,
// answers the first busy PRODUCE frames BUSY (a view change in progress) and
// acknowledges the rest, keeping each record once, in order.
type recordingBroker struct {
	addr string
	mu   sync.Mutex
	busy int
	next uint64 // next sequence number to store
	got  []string
}

func startRecordingBroker(t *testing.T, busy int) *recordingBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &recordingBroker{addr: ln.Addr().String(), busy: busy, next: 1}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return // listener closed by Cleanup
			}
			go b.serve(t, nc)
		}
	}()
	return b
}

func (b *recordingBroker) serve(t *testing.T, nc net.Conn) {
	conn := framed.NewWith(nc, framed.Options{MaxBody: wire.DefaultMaxFrame, Queue: 64, WriteTimeout: time.Second})
	defer conn.Close()
	for {
		f, err := conn.Recv()
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TypeMetadata:
			conn.Send(wire.Encode(&wire.MetadataResponse{Addr: b.addr}, f.Corr))
		case wire.TypeProduce:
			var m wire.Produce
			if err := m.Unmarshal(f.Body); err != nil {
				t.Error(err)
				return
			}
			conn.Send(wire.Encode(b.produce(&m), f.Corr))
		}
	}
}

func (b *recordingBroker) produce(m *wire.Produce) *wire.ProduceAck {
	b.mu.Lock()
	defer b.mu.Unlock()
	ack := &wire.ProduceAck{Topic: m.Topic, FirstSeq: m.Records[0].Seq, Count: uint32(len(m.Records))}
	if b.busy > 0 {
		b.busy--
		ack.Code, ack.Message = wire.ErrBusy, "view change in progress"
		return ack
	}
	for _, r := range m.Records {
		if r.Seq == b.next { // a resend of a stored record is dropped
			b.got = append(b.got, string(r.Payload))
			b.next++
		}
	}
	return ack
}

func (b *recordingBroker) stored() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// runProducerWith runs the producer role on stdin against the broker at
// addr and returns its exit status and standard error.
func runProducerWith(t *testing.T, addr string, stdin io.Reader, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := cliutil.Prepare(producerApp(stdin), &stdout, &stderr)
	app.Name = "producer"
	code := cliutil.Run(app, append([]string{"producer", "-leader", addr, "-topic", "t",
		"-reconnect-attempts", "10", "-reconnect-delay", "1", "-log-format", "json", "-log-level", "warn"}, args...))
	return code, stderr.String()
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

// One line longer than the largest record used to end the pipeline with
// "bufio.Scanner: token too long", the lines after it never read. It is
// reported in one line and skipped; every other line is stored, in order.
func TestProducerSkipsAnOverlongLine(t *testing.T) {
	b := startRecordingBroker(t, 0)
	long := strings.Repeat("x", 5<<20)
	in := "before-1\nbefore-2\n" + long + "\nafter-1\nafter-2\n"
	code, stderr := runProducerWith(t, b.addr, strings.NewReader(in))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"before-1", "before-2", "after-1", "after-2"}
	if got := b.stored(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("stored %q, want %q", got, want)
	}
	warn := lines(stderr)
	if len(warn) != 1 || !strings.Contains(warn[0], "line 3 skipped: 5242880 bytes, longer than the largest record (") ||
		!strings.Contains(warn[0], "-max-frame") {
		t.Errorf("stderr %q, want one warning naming the line, its length, the limit and the setting", stderr)
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data *strings.Reader
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data.Len() == 0 {
		return 0, r.err
	}
	return r.data.Read(p)
}

// An input error used to end the producer at once, dropping the lines it had
// read (lost for good when the broker was answering BUSY just then). They
// are delivered first, then the producer exits 1 with one line.
func TestProducerDeliversLinesReadBeforeAnInputError(t *testing.T) {
	b := startRecordingBroker(t, 3)
	in := &failingReader{data: strings.NewReader("before-1\nbefore-2\n"), err: errors.New("input/output error")}
	code, stderr := runProducerWith(t, b.addr, in)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := b.stored(); strings.Join(got, ",") != "before-1,before-2" {
		t.Errorf("stored %q, want before-1 and before-2", got)
	}
	last := lines(stderr)[len(lines(stderr))-1]
	if !strings.HasPrefix(last, "producer: reading standard input after line 2: input/output error") ||
		!strings.Contains(last, "the 2 records before it were acknowledged") {
		t.Errorf("last line %q, want the input error and what was delivered", last)
	}
}

// stepReader returns one chunk per Read, saying on entered when each Read
// begins; after the chunks it blocks until release closes (a terminal).
type stepReader struct {
	chunks  []string
	entered chan int
	release chan struct{}
	calls   int
}

func (r *stepReader) Read(b []byte) (int, error) {
	r.calls++
	r.entered <- r.calls
	if len(r.chunks) == 0 {
		<-r.release
		return 0, io.EOF
	}
	n := copy(b, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

// The lines of what was read before stop are queued, not dropped; stop does
// not wait for a read that blocks (a terminal); an unfinished line and what
// a read returns after stop are not queued.
func TestLineFeedStopQueuesTheLinesRead(t *testing.T) {
	p := client.NewProducer(client.Options{ClientID: "test", Logger: zerolog.Nop()}, client.ProducerOptions{Topic: "t"})
	in := &stepReader{chunks: []string{"a\nb\npar"}, entered: make(chan int, 4), release: make(chan struct{})}
	f := feedLines(context.Background(), p, in, longSkip, 0, zerolog.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for want := 1; want <= 2; want++ { // the second read begins once the first chunk is handled
		select {
		case n := <-in.entered:
			if n != want {
				t.Fatalf("read %d began, want %d", n, want)
			}
		case <-ctx.Done():
			t.Fatalf("read %d never began", want)
		}
	}
	f.stop(ctx)
	if ctx.Err() != nil {
		t.Fatal("stop waited for the blocked read")
	}
	if n := p.Pending(); n != 2 {
		t.Errorf("%d records queued, want the 2 whole lines read", n)
	}
	close(in.release)
	if err := f.wait(ctx); !errors.Is(err, errStopped) {
		t.Errorf("feed ended with %v, want errStopped", err)
	}
	if n := p.Pending(); n != 2 {
		t.Errorf("%d records queued after the last read, want 2", n)
	}
}

// -long-lines split sends an over-long line as records of at most the
// largest record size, in order, between the lines around it; truncate
// sends its first part. Each says so in one warning.
func TestProducerSplitsOrTruncatesAnOverlongLine(t *testing.T) {
	long := strings.Repeat("0123456789", 1<<19) // 5 MiB
	in := "before\n" + long + "\nafter\n"
	for _, tc := range []struct{ mode, warn string }{
		{"split", "line 2 split into 2 records: 5242880 bytes, longer than the largest record ("},
		{"truncate", "line 2 truncated: 5242880 bytes, longer than the largest record ("},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			b := startRecordingBroker(t, 0)
			code, stderr := runProducerWith(t, b.addr, strings.NewReader(in), "-long-lines", tc.mode)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := b.stored()
			if len(got) < 3 || got[0] != "before" || got[len(got)-1] != "after" {
				t.Fatalf("stored %d records, want before, the line's records, after", len(got))
			}
			mid := got[1 : len(got)-1]
			limit := len(mid[0])
			for _, r := range mid {
				if len(r) > limit || len(r) == 0 {
					t.Fatalf("a record of %d bytes after a first one of %d", len(r), limit)
				}
			}
			switch joined := strings.Join(mid, ""); {
			case tc.mode == "split" && (len(mid) != 2 || joined != long):
				t.Errorf("split into %d records that do not join into the line", len(mid))
			case tc.mode == "truncate" && (len(mid) != 1 || !strings.HasPrefix(long, joined) || limit >= len(long)):
				t.Errorf("truncated into %d records, not a prefix of the line", len(mid))
			}
			if warn := lines(stderr); len(warn) != 1 || !strings.Contains(warn[0], tc.warn) || !strings.Contains(warn[0], "-max-frame") {
				t.Errorf("stderr %q, want one warning %q", stderr, tc.warn)
			}
		})
	}
}

func TestProducerRejectsAnUnknownLongLinesMode(t *testing.T) {
	code, stderr := runProducerWith(t, "127.0.0.1:1", strings.NewReader(""), "-long-lines", "wrap")
	if code != 2 || !strings.Contains(stderr, "-long-lines") || len(lines(stderr)) != 1 {
		t.Errorf("exit %d, stderr %q: want one line naming -long-lines and exit 2", code, stderr)
	}
}

// The lines of one read are queued together, with one clock read for all
// of them, before the next read begins (a line never waits for later
// input); the lines of the next read get a clock read of their own.
func TestLineFeedQueuesEachReadWithOneClockRead(t *testing.T) {
	var clockReads atomic.Int64
	now := func() int64 { return clockReads.Add(1) }
	p := client.NewProducer(client.Options{ClientID: "test", Logger: zerolog.Nop()}, client.ProducerOptions{Topic: "t", Now: now})
	var first, second strings.Builder
	for i := range 500 {
		fmt.Fprintf(&first, "line %d\n", i)
	}
	for i := range 300 {
		fmt.Fprintf(&second, "line %d\n", 500+i)
	}
	second.WriteString("tail") // a last line without its end, queued at the end of the input
	in := &gateReader{chunks: []string{first.String(), second.String()}, entered: make(chan int, 8), proceed: make(chan struct{})}
	f := feedLines(context.Background(), p, in, longSkip, 0, zerolog.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, step := range []struct {
		read          int
		pending       int
		clockReadsNow int64
	}{{1, 0, 0}, {2, 500, 1}, {3, 800, 2}} {
		select {
		case n := <-in.entered:
			if n != step.read {
				t.Fatalf("read %d began, want %d", n, step.read)
			}
		case <-ctx.Done():
			t.Fatalf("read %d never began", step.read)
		}
		if got, reads := p.Pending(), clockReads.Load(); got != step.pending || reads != step.clockReadsNow {
			t.Fatalf("as read %d began: %d records queued with %d clock reads, want %d with %d",
				step.read, got, reads, step.pending, step.clockReadsNow)
		}
		in.proceed <- struct{}{}
	}
	close(in.proceed) // the third read, and any after it, end the input
	if err := f.wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got, reads := p.Pending(), clockReads.Load(); got != 801 || reads != 3 {
		t.Fatalf("at the end: %d records queued with %d clock reads, want 801 with 3", got, reads)
	}
}

// gateReader returns its chunks, one per read, then the end of the input;
// each read says it began on entered, then waits for proceed.
type gateReader struct {
	chunks  []string
	entered chan int
	proceed chan struct{}
	calls   int
}

func (r *gateReader) Read(b []byte) (int, error) {
	r.calls++
	r.entered <- r.calls
	<-r.proceed
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

// The wait at the end of the input or at -count does not tell the user to
// press Ctrl-C "again" when nobody pressed it.
func TestWaitingNote(t *testing.T) {
	if n := waitingNote(false); strings.Contains(n, "again") {
		t.Errorf("no signal yet: %q", n)
	}
	if n := waitingNote(true); !strings.Contains(n, "Ctrl-C again") {
		t.Errorf("after a signal: %q", n)
	}
}
