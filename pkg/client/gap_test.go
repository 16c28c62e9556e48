package client

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// stopAfter is a Handler that ends the consumer after n records.
type stopAfter struct {
	n   int
	got []uint64
}

func (h *stopAfter) Start(next, committed uint64) error { return nil }
func (h *stopAfter) Stats(*wire.Stats)                  {}
func (h *stopAfter) Records(recs []record.Record) error {
	for _, r := range recs {
		h.got = append(h.got, r.Offset)
	}
	if len(h.got) >= h.n {
		return ErrStop
	}
	return nil
}

// syncBuffer is a log sink the consumer's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A subscription that skips records says why (the broker's Gap), and the
// consumer reports the offsets it lost with that reason in one log line.
func TestConsumerReportsTheGapWithItsReason(t *testing.T) {
	for _, tc := range []struct {
		gap  wire.Gap
		want string
	}{
		{wire.GapDamaged, `"reason":"damaged","message":"records 2 to 4 were lost: they lay in a damaged range of the broker's log`},
		{wire.GapRetention, `"reason":"retention","message":"records were removed by retention before this consumer read them"`},
	} {
		addr := scriptedBroker(t, func(conn *framed.Conn, f wire.Frame) {
			if f.Type != wire.TypeSubscribe {
				return
			}
			recs := func(offs ...uint64) []record.Record {
				var out []record.Record
				for _, o := range offs {
					out = append(out, record.Record{Offset: o, Payload: []byte("x")})
				}
				return out
			}
			conn.Send(wire.Encode(&wire.Records{Topic: "t", Committed: 7, StartOffset: 0}, f.Corr))
			conn.Send(wire.Encode(&wire.Records{Topic: "t", Committed: 7, Records: recs(0, 1)}, f.Corr))
			conn.Send(wire.Encode(&wire.Records{Topic: "t", Committed: 7, Records: recs(5, 6), Gap: tc.gap}, f.Corr))
		})
		var logs syncBuffer
		p := &pauses{}
		o := testOptions(addr, 3)
		o.Logger = zerolog.New(&logs)
		h := &stopAfter{n: 4}
		err := runBounded(t, p, func(ctx context.Context) error { return p.consumer(o, ConsumerOptions{Topic: "t"}).Run(ctx, h) })
		if err != nil && !errors.Is(err, ErrStop) {
			t.Fatal(err)
		}
		if got := logs.String(); strings.Count(got, "missed_from") != 1 || !strings.Contains(got, `"missed_from":2,"missed_to":4`) || !strings.Contains(got, tc.want) {
			t.Errorf("gap %d: log\n%s\nwant one line with %s", tc.gap, got, tc.want)
		}
	}
}
