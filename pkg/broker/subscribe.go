package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/analytics"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// errNotYet marks a start offset this broker does not hold yet (it is still
// catching up): the client retries.
var errNotYet = errors.New("not caught up yet")

func offsetRangeMsg(off, start, end uint64) string {
	return fmt.Sprintf("offset %d is outside the topic's retained range [%d, %d]", off, start, end)
}

// subscribe starts streaming a topic to the client from the requested
// position. Records go out as RECORDS frames with the subscription's
// correlation id; with analytics, STATS frames follow every interval. The
// stream's goroutine sends every frame, so a nil error means no reply now.
func (c *peer) subscribe(ctx context.Context, corr uint64, m *wire.Subscribe, wg *sync.WaitGroup) error {
	log, err := c.readable(m.Topic)
	if err != nil {
		return err
	}
	committed, _ := c.b.cluster.Committed(m.Topic)
	var start uint64
	if m.Group == "" {
		if start, err = resolveStart(m, log, committed); err != nil {
			return err
		}
	} else if err := groupRequest(m); err != nil {
		return err
	}
	c.subsMu.Lock()
	if _, dup := c.subs[corr]; dup || len(c.subs) >= maxSubscriptionsPerConn {
		c.subsMu.Unlock()
		return refuse(wire.ErrBusy, "too many subscriptions on one connection")
	}
	sctx, cancel := context.WithCancel(ctx)
	c.subs[corr] = cancel
	c.subsMu.Unlock()
	var gm *groupMember
	if m.Group != "" {
		if gm, start, err = c.joinGroup(corr, m, log, committed, cancel); err != nil {
			c.subsMu.Lock()
			delete(c.subs, corr)
			c.subsMu.Unlock()
			cancel()
			return err
		}
	}
	c.identify(m.ConsumerID, wire.RoleConsumer)
	c.b.counters.subscriptions.Add(1)

	s := &subscription{c: c, corr: corr, topic: m.Topic, log: log, next: start,
		batch: clamp(int(m.MaxBatch), 1, defaults.MaxReplyRecords), consumer: m.ConsumerID}
	if m.MaxBatch == 0 {
		s.batch = defaults.SubscribeBatch
	}
	if m.Analytics {
		window := c.b.cfg.AnalyticsWindow
		if m.WindowSec > 0 {
			window = time.Duration(min(m.WindowSec, defaults.MaxSeconds)) * time.Second
		}
		s.interval = defaults.AnalyticsInterval
		if m.IntervalMs > 0 {
			s.interval = max(time.Duration(m.IntervalMs)*time.Millisecond, defaults.MinAnalyticsInterval)
		}
		s.window = analytics.NewWindow(window, 60)
		s.windowSec = uint32(window / time.Second)
	}
	if gm != nil {
		s.group = m.Group
		c.b.log.Info().Str("topic", m.Topic).Str("consumer", m.ConsumerID).Str("group", m.Group).Str("member", gm.id).
			Uint64("position", start).Bool("analytics", m.Analytics).Stringer("peer", c.conn.RemoteAddr()).
			Msgf("SUBSCRIBE: CONSUME started: %s joined group %s on topic %s at position %d (analytics %v)",
				gm.id, m.Group, m.Topic, start, m.Analytics)
	} else {
		c.b.log.Info().Str("topic", m.Topic).Str("consumer", m.ConsumerID).Uint64("from", start).
			Bool("analytics", m.Analytics).Stringer("peer", c.conn.RemoteAddr()).
			Msgf("SUBSCRIBE: CONSUME started: %s on topic %s from offset %d (analytics %v)", orUnnamed(m.ConsumerID), m.Topic, start, m.Analytics)
	}
	c.b.registerSub(s)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		defer c.b.unregisterSub(s)
		defer s.logEnd(time.Now())
		if gm != nil {
			defer c.leaveGroup(corr, gm)
			s.runGroup(sctx, gm)
			return
		}
		s.run(sctx)
	}()
	return nil
}

// resolveStart is startOffset with its errors as the refusals a client
// acts on.
func resolveStart(m *wire.Subscribe, log *topiclog.Log, committed uint64) (uint64, error) {
	start, err := startOffset(m, log, committed)
	if errors.Is(err, errNotYet) {
		return 0, refuse(wire.ErrBusy, err.Error())
	}
	if err != nil {
		return 0, refuse(wire.ErrOffsetOutOfRange, err.Error())
	}
	return start, nil
}

// startOffset resolves where a subscription begins. Latest means the end of
// the committed log: only records committed from now on.
func startOffset(m *wire.Subscribe, log *topiclog.Log, committed uint64) (uint64, error) {
	switch m.From {
	case wire.FromBeginning:
		return log.StartOffset(), nil
	case wire.FromLatest:
		return committed, nil
	case wire.FromOffset:
		// Up to the log's end is fine: a consumer resuming on a new owner
		// may be ahead of what that owner has yet marked committed.
		if m.Offset < log.StartOffset() {
			return 0, errors.New(offsetRangeMsg(m.Offset, log.StartOffset(), log.NextOffset()))
		}
		if m.Offset > log.NextOffset() {
			return 0, fmt.Errorf("%w: offset %d is beyond this broker's log end %d", errNotYet, m.Offset, log.NextOffset())
		}
		return m.Offset, nil
	case wire.FromTime:
		return max(log.OffsetForTime(m.TimeUnixNano), log.StartOffset()), nil
	}
	return 0, fmt.Errorf("unknown start position %d", m.From)
}

// committedOnly drops the records at or above committed. A read that
// skipped a damaged range may reach past the count it was given.
func committedOnly(recs []record.Record, committed uint64) []record.Record {
	for len(recs) > 0 && recs[len(recs)-1].Offset >= committed {
		recs = recs[:len(recs)-1]
	}
	return recs
}

// subscription streams one topic to one client; its goroutine owns it.
type subscription struct {
	c         *peer
	corr      uint64
	topic     string
	consumer  string
	group     string // shared group ("" none)
	log       *topiclog.Log
	next      uint64
	batch     int
	window    *analytics.Window
	windowSec uint32
	interval  time.Duration
	mu        sync.Mutex // guards next for status readers
	holeSince time.Time  // run-owned: when a read first stopped at a damaged range at next
	delivered uint64     // run-owned: records sent, for the CONSUME line at the end
	scratch   []byte     // run-owned: the last raw read's buffer, reused
}

// logEnd writes the subscription's CONSUME line at its end (the connection
// closed, the topic moved, or a read failed).
func (s *subscription) logEnd(started time.Time) {
	next := s.position()
	s.c.b.log.Info().Str("topic", s.topic).Str("consumer", s.consumer).Uint64("records", s.delivered).
		Uint64("next", next).Stringer("peer", s.c.conn.RemoteAddr()).
		Msgf("CONSUME ended: %s on topic %s: %d records delivered in %s, next offset %d",
			orUnnamed(s.consumer), s.topic, s.delivered, time.Since(started).Round(time.Millisecond), next)
}

func (s *subscription) position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *subscription) run(ctx context.Context) {
	var tick <-chan time.Time
	if s.window != nil {
		t := time.NewTicker(s.interval)
		defer t.Stop()
		tick = t.C
	}
	// The first frame tells the consumer where it starts and where the
	// committed log ends now, so "read to the end and exit" knows its goal.
	committed, changed := s.c.b.cluster.Committed(s.topic)
	s.c.reply(s.corr, &wire.Records{Topic: s.topic, Committed: committed, StartOffset: s.next})
	// While idle, check now and then that the topic still lives here: after
	// a view change moved it, this broker's log stops growing and the
	// consumer must follow the topic to its new owner.
	own := time.NewTicker(ownerCheckEvery)
	defer own.Stop()
	for {
		committed, changed = s.c.b.cluster.Committed(s.topic)
		if s.next < committed {
			if s.next < s.log.StartOffset() {
				// Retention overtook a slow consumer: say so and skip ahead
				// rather than stall.
				s.c.log.Warn().Str("topic", s.topic).Uint64("lost_from", s.next).
					Uint64("resume_at", s.log.StartOffset()).Msg("consumer fell behind retention")
				s.setNext(s.log.StartOffset())
			}
			n := int(min(uint64(s.batch), committed-s.next))
			b, err := s.read(n, committed)
			if err != nil && !errors.Is(err, topiclog.ErrOffsetOutOfRange) {
				s.c.reply(s.corr, refuse(wire.ErrInternal, err.Error()).frame(wire.TypeSubscribe))
				return
			}
			if b.count > 0 && b.first > s.next && s.awaitRepair(time.Now()) {
				// Another member holds these records intact and the node
				// is asking for them (cluster repair.go): wait a little
				// rather than skip what is not lost.
				select {
				case <-ctx.Done():
					return
				case <-time.After(repairPoll):
				}
				continue
			}
			gap := wire.GapRetention
			if b.count > 0 && b.first > s.next {
				// A damaged range was cut out of the log (topiclog reports
				// it once): the consumer moves past it, told why, so it
				// can say which offsets it lost.
				gap = wire.GapDamaged
				s.c.log.Warn().Str("topic", s.topic).Str("consumer", s.consumer).Uint64("lost_from", s.next).
					Uint64("resume_at", b.first).Msg("consumer skipped damaged records cut out of the log")
			}
			if b.count == 0 {
				// Nothing readable below the committed end (the log was
				// reset under us, or the rest is a cut-out damaged range):
				// wait for the next change, never spin.
				select {
				case <-ctx.Done():
					return
				case <-changed:
				case <-own.C:
					if s.moved() {
						return
					}
				}
				continue
			}
			{
				var m wire.Message = &wire.Records{Topic: s.topic, Committed: committed, Records: b.recs, Gap: gap}
				if b.recs == nil {
					m = &wire.RawRecords{Topic: s.topic, Committed: committed, Count: b.count, Encoded: b.encoded, Gap: gap}
				}
				if err := s.c.conn.SendMessage(m, s.corr); err != nil {
					return
				}
				if s.window != nil {
					for i := range b.recs {
						s.window.Add(time.Unix(0, b.recs[i].Timestamp), b.recs[i].ProducerID, len(b.recs[i].Payload))
					}
				}
				s.c.b.counters.delivered.Add(uint64(b.count))
				s.delivered += uint64(b.count)
				if obs := s.c.b.cfg.Observer; obs != nil {
					obs.Delivered(s.topic, b.count, b.payload)
				}
				s.setNext(b.next)
			}
			select {
			case <-ctx.Done():
				return
			case now := <-tick:
				s.sendStats(now, committed)
			default:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case now := <-tick:
			s.sendStats(now, committed)
		case <-own.C:
			if s.moved() {
				return
			}
		}
	}
}

// batch is what one read of a subscription found: decoded records when the
// subscription needs them (analytics), else their encodings as stored.
type batch struct {
	recs        []record.Record // nil when encoded is used
	encoded     []byte
	count       int
	first, next uint64 // offset of the first record, and after the last
	payload     int    // payload bytes
}

// maxKeptScratch bounds the read buffer a subscription keeps between reads.
const maxKeptScratch = 4 << 20

// read reads up to n committed records at s.next. Without analytics the
// records go to the consumer as stored (ReadRaw): no record is decoded and
// re-encoded on the way from the file to the frame.
func (s *subscription) read(n int, committed uint64) (batch, error) {
	maxBytes := s.c.b.cfg.MaxFrame / 2
	if s.window == nil {
		raw, err := s.log.ReadRaw(s.next, n, maxBytes, committed, s.scratch[:0])
		if cap(raw.Encoded) <= maxKeptScratch {
			s.scratch = raw.Encoded[:0] // copied into each frame: reused
		}
		return batch{encoded: raw.Encoded, count: raw.Count, first: raw.First, next: raw.Next, payload: raw.PayloadBytes}, err
	}
	recs, err := s.log.Read(s.next, n, maxBytes)
	recs = committedOnly(recs, committed)
	b := batch{recs: recs, count: len(recs), payload: payloadBytes(recs)}
	if len(recs) > 0 {
		b.first, b.next = recs[0].Offset, recs[len(recs)-1].Offset+1
	}
	return b, err
}

// repairPoll is how often a subscription stopped at a damaged range looks
// whether it was repaired.
const repairPoll = 50 * time.Millisecond

// awaitRepair reports whether a subscription whose next records were cut
// out for damage should wait for the cluster to repair them: only where
// other members may hold them, and for at most the failure timeout — then
// they are skipped as on a lone broker.
func (s *subscription) awaitRepair(now time.Time) bool {
	if st := s.c.b.cluster.status.Load(); st == nil || len(st.View.Members) < 2 {
		return false
	}
	if s.holeSince.IsZero() {
		s.holeSince = now
	}
	return now.Sub(s.holeSince) < s.c.b.cfg.FailureTimeout
}

// ownerCheckEvery is how often an idle subscription checks that its topic
// has not moved to another broker.
const ownerCheckEvery = time.Second

// moved reports whether the topic now lives on another broker, and if so
// redirects the consumer there; it resumes at its next offset.
func (s *subscription) moved() bool {
	addr, self, known := s.c.b.cluster.Owner(s.topic)
	if !known || self {
		return false
	}
	s.c.log.Info().Str("topic", s.topic).Str("owner", addr).Msg("topic moved; redirecting its consumer")
	moved := &refusal{code: wire.ErrNotOwner, msg: "topic " + s.topic + " moved to " + addr, redirect: addr}
	s.c.reply(s.corr, moved.frame(wire.TypeSubscribe))
	return true
}

func (s *subscription) setNext(n uint64) {
	s.holeSince = time.Time{}
	s.mu.Lock()
	s.next = n
	s.mu.Unlock()
}

func (s *subscription) sendStats(now time.Time, committed uint64) {
	snap := s.window.Snapshot(now)
	st := wire.Stats{Topic: s.topic, UnixNano: now.UnixNano(), Total: snap.Total, WindowSec: s.windowSec,
		WindowCount: snap.WindowCount, Rate: snap.Rate, BytesPerSec: snap.BytesPerSec,
		Buckets: snap.Buckets}
	if committed > 0 {
		st.LastOffset = committed - 1
	}
	for _, p := range snap.PerProducer {
		st.PerProducer = append(st.PerProducer, wire.ProducerCount{ProducerID: p.ProducerID, Count: p.Count})
	}
	s.c.reply(s.corr, &st)
}
