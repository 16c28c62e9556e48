package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// maxPauses bounds every test's loop: a client that never gives up is
// stopped here and the test fails.
const maxPauses = 200

// pauses records the pauses a client asks for, without sleeping, and stops
// the client (cancel) if it asks for more than maxPauses.
type pauses struct {
	mu     sync.Mutex
	got    []time.Duration
	cancel context.CancelFunc
}

func (p *pauses) pause(ctx context.Context, d time.Duration) bool {
	p.mu.Lock()
	p.got = append(p.got, d)
	n := len(p.got)
	p.mu.Unlock()
	if n > maxPauses {
		p.cancel()
		return false
	}
	return ctx.Err() == nil
}

func (p *pauses) list() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.got...)
}

// testOptions talks to addr with attempts attempts and a 1 s cap on the pause.
func testOptions(addr string, attempts int) Options {
	return Options{ClientID: "test-client", Leader: addr, ReconnectAttempts: attempts, ReconnectDelay: time.Second,
		HBInterval: time.Hour, HBTimeout: time.Hour, Logger: zerolog.Nop()}
}

// drive makes l pause through p (recorded, not waited) with jitter fixed at
// the middle of its range.
func (p *pauses) drive(l *link) {
	l.rand = func() float64 { return 0.5 }
	l.pause = p.pause
}

// consumer and producer are NewConsumer and NewProducer paused through p.
func (p *pauses) consumer(o Options, co ConsumerOptions) *Consumer {
	c := NewConsumer(o, co)
	p.drive(c.l)
	return c
}

func (p *pauses) producer(o Options, po ProducerOptions) *Producer {
	prod := NewProducer(o, po)
	p.drive(prod.l)
	return prod
}

// The schedule with jitter fixed at 0.5: 3/4 of 100 ms, 200 ms, 400 ms,
// 800 ms, then of the 1 s cap.
var wantSchedule = []time.Duration{75 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond,
	600 * time.Millisecond, 750 * time.Millisecond, 750 * time.Millisecond}

func checkSchedule(t *testing.T, got []time.Duration, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d pauses %v, want %d", len(got), got, n)
	}
	for i, d := range got {
		if d != wantSchedule[min(i, len(wantSchedule)-1)] {
			t.Errorf("pause %d is %s, want %s (all: %v)", i+1, d, wantSchedule[min(i, len(wantSchedule)-1)], got)
		}
	}
}

// runBounded runs fn with a context that the pauses (by count) and a
// generous timer cancel, and returns its error.
func runBounded(t *testing.T, p *pauses, fn func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.cancel = cancel
	err := fn(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the client never gave up (%d pauses, last %v): %v", len(p.list()), p.list()[max(0, len(p.list())-3):], err)
	}
	return err
}

// A consumer whose broker answers every SUBSCRIBE with an error (a damaged
// topic) used to resubscribe at once, thousands of times a second, forever.
// It backs off and gives up once its attempts are spent, saying why.
func TestRefusedConsumerBacksOffAndGivesUp(t *testing.T) {
	var subscribes atomic.Int32
	addr := scriptedBroker(t, func(conn *framed.Conn, f wire.Frame) {
		if f.Type == wire.TypeSubscribe {
			subscribes.Add(1)
			conn.Send(wire.Encode(&wire.Error{Code: wire.ErrInternal, Message: "corrupt entry: checksum mismatch"}, f.Corr))
		}
	})
	p := &pauses{}
	c := p.consumer(testOptions(addr, 5), ConsumerOptions{Topic: "t"})
	err := runBounded(t, p, func(ctx context.Context) error { return c.Run(ctx, nopHandler{}) })
	if !errors.Is(err, errGaveUp) || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "5 attempts") {
		t.Errorf("Run: %v, want a give-up after 5 attempts naming the broker's error", err)
	}
	if n := subscribes.Load(); n != 5 {
		t.Errorf("%d subscriptions, want 5", n)
	}
	checkSchedule(t, p.list(), 4)
}

// A producer answered BUSY (a view change that does not end) backs off on
// the same schedule and gives up; Flush then reports the error.
func TestBusyProducerBacksOffAndGivesUp(t *testing.T) {
	var produces atomic.Int32
	addr := scriptedBroker(t, func(conn *framed.Conn, f wire.Frame) {
		if f.Type == wire.TypeProduce {
			produces.Add(1)
			conn.Send(wire.Encode(&wire.ProduceAck{Code: wire.ErrBusy, Message: "view change in progress"}, f.Corr))
		}
	})
	p := &pauses{}
	prod := p.producer(testOptions(addr, 7), ProducerOptions{Topic: "t"})
	if err := prod.Send(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	err := runBounded(t, p, prod.Run)
	if !errors.Is(err, errGaveUp) || !strings.Contains(err.Error(), "view change in progress") {
		t.Errorf("Run: %v, want a give-up naming the refusal", err)
	}
	if ferr := prod.Flush(context.Background()); ferr == nil {
		t.Error("Flush succeeded with the record never acknowledged")
	}
	if n := produces.Load(); n != 7 {
		t.Errorf("%d PRODUCE frames, want 7", n)
	}
	checkSchedule(t, p.list(), 6)
}

// A refusal that ends (BUSY three times, then acknowledgements) costs three
// growing pauses, and the acknowledged record starts a new episode: the
// next refusal pauses the shortest step again.
func TestBusyThenServedResetsTheBackoff(t *testing.T) {
	var produces atomic.Int32
	addr := scriptedBroker(t, func(conn *framed.Conn, f wire.Frame) {
		if f.Type != wire.TypeProduce {
			return
		}
		ack, _, ok := produceAck(t, f)
		if !ok {
			return
		}
		n := produces.Add(1)
		if n <= 3 || n == 5 {
			ack.Code, ack.Message = wire.ErrBusy, "view change in progress"
		}
		conn.Send(wire.Encode(&ack, f.Corr))
	})
	p := &pauses{}
	prod := p.producer(testOptions(addr, 10), ProducerOptions{Topic: "t"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.cancel = cancel
	done := make(chan error, 1)
	go func() { done <- prod.Run(ctx) }()
	for i := 0; i < 2; i++ {
		if err := prod.Send(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{75 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond, 75 * time.Millisecond}
	if got := p.list(); len(got) != len(want) || got[0] != want[0] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

// With no broker at all the client backs off the same way and ends with the
// hint about discovery.
func TestUnreachableBrokerBacksOffAndGivesUp(t *testing.T) {
	p := &pauses{}
	c := p.consumer(testOptions(closedAddr(t), 3), ConsumerOptions{Topic: "t"})
	err := runBounded(t, p, func(ctx context.Context) error { return c.Run(ctx, nopHandler{}) })
	if !errors.Is(err, errGaveUp) || !strings.Contains(err.Error(), "is a broker running") {
		t.Errorf("Run: %v, want a give-up after 3 attempts with the discovery hint", err)
	}
	checkSchedule(t, p.list(), 2)
}

// Every pause lies in the upper half of its step, the step doubles from
// 100 ms, and it never exceeds the cap, whatever the random source says.
func TestBackoffJitterBounds(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.999999} {
		b := backoff{max: 5 * time.Second, rand: func() float64 { return r }}
		step := firstPause
		for i := 0; i < 12; i++ {
			d := b.next()
			if d < step/2 || d > step {
				t.Errorf("rand %v, pause %d: %s, want within [%s, %s]", r, i+1, d, step/2, step)
			}
			step = min(2*step, b.max)
		}
	}
}

type nopHandler struct{}

func (nopHandler) Start(next, committed uint64) error { return nil }
func (nopHandler) Records([]record.Record) error      { return nil }
func (nopHandler) Stats(*wire.Stats)                  {}

// refusingBroker answers every connection's first request with one ERROR
// of code (correlation 0: the whole connection is refused), as the broker
// does at a connection bound.
func refusingBroker(t *testing.T, code wire.ErrCode) string {
	t.Helper()
	return scriptedBrokerFunc(t, func(conn *framed.Conn, f wire.Frame, _ string) {
		conn.Send(wire.Encode(&wire.Error{Code: code, Message: "refused for the test"}, 0))
	})
}

// A refusal that waiting cannot heal (a connection bound, a bad request,
// a request too large) ends the client at once with the broker's line; a
// BUSY refusal is still retried with back-off.
func TestPermanentRefusalEndsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		code   wire.ErrCode
		pauses int
	}{{wire.ErrLimit, 0}, {wire.ErrBadRequest, 0}, {wire.ErrTooLarge, 0}, {wire.ErrBusy, 2}} {
		t.Run(tc.code.String(), func(t *testing.T) {
			addr := refusingBroker(t, tc.code)
			p := &pauses{}
			c := p.consumer(testOptions(addr, 3), ConsumerOptions{Topic: "t"})
			err := runBounded(t, p, func(ctx context.Context) error { return c.Run(ctx, nopHandler{}) })
			if err == nil || !strings.Contains(err.Error(), tc.code.String()+": refused for the test") {
				t.Fatalf("Run: %v, want the refusal named", err)
			}
			if got := errors.Is(err, errGaveUp); got != (tc.pauses > 0) {
				t.Errorf("Run: %v: gave up after retries = %v, want %v", err, got, tc.pauses > 0)
			}
			if n := len(p.list()); n != tc.pauses {
				t.Errorf("%d pauses, want %d", n, tc.pauses)
			}
		})
	}
}
