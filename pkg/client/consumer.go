package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// Handler receives what a subscription delivers. Records come in offset
// order, each exactly once, also across reconnects. Start is called once per
// connection with the next offset to be delivered and the committed end of the
// log at that moment; returning ErrStop ends Run. The slice Records is given,
// and the records' payloads, are the consumer's and are overwritten by the
// next batch: a handler that keeps a record past the call copies it (its
// ProducerID string may be kept as it is).
type Handler interface {
	Start(next, committed uint64) error
	Records(recs []record.Record) error
	Stats(s *wire.Stats)
}

// ConsumerOptions say what to read and how.
type ConsumerOptions struct {
	Topic      string
	From       wire.StartFrom
	Offset     uint64
	Time       time.Time
	Analytics  bool
	WindowSec  uint32
	IntervalMs uint32
	MaxBatch   uint32
	// Resume marks Offset (with FromOffset) as a stored position, such as a
	// consumer group's: if retention has removed it, start at the oldest
	// retained record with a warning instead of failing.
	Resume bool
	// Group makes the consumer a member of a shared consumer group: the
	// topic's records are split among the group's members (see
	// groupconsumer.go). The handler must acknowledge what it processed
	// with Consumer.Ack; unacknowledged records go to another member.
	Group string
	// OnPosition, with Group, is told the group's position (the end of its
	// contiguous acknowledged prefix) whenever it moves, on the consumer's
	// goroutine; ErrStop ends Run (after leaving the group).
	OnPosition func(position uint64) error
}

// Consumer reads one topic. Run owns the connection and calls the handler
// from its goroutine only.
type Consumer struct {
	o    Options // defaulted; read-only
	l    *link
	co   ConsumerOptions
	next uint64
	have bool // next is known: resume there after a reconnect
	grp  groupState
}

// NewConsumer returns a consumer; call Run.
func NewConsumer(o Options, co ConsumerOptions) *Consumer {
	o.Defaults()
	l := newLink(o)
	l.topic = co.Topic
	return &Consumer{o: o, l: l, co: co}
}

// ErrStop may be returned by Handler.Records to end Run without error.
var ErrStop = errors.New("stop consuming")

// Run subscribes and delivers until ctx ends, the handler returns an error,
// or no broker can be reached within the reconnect attempts. Each new
// subscription resumes at the next offset.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	return c.l.loop(ctx, "resubscribing at the next offset", func(ctx context.Context, conn *framed.Conn, hl *health) error {
		return c.session(ctx, conn, h, hl)
	}, nil)
}

func (c *Consumer) subscribeMsg() wire.Subscribe {
	m := wire.Subscribe{Topic: c.co.Topic, ConsumerID: c.o.ClientID, From: c.co.From, Offset: c.co.Offset,
		Analytics: c.co.Analytics, Raw: !c.co.Analytics, WindowSec: c.co.WindowSec, IntervalMs: c.co.IntervalMs,
		MaxBatch: c.co.MaxBatch, Group: c.co.Group}
	if c.co.From == wire.FromTime {
		m.TimeUnixNano = c.co.Time.UnixNano()
	}
	if c.have {
		m.From, m.Offset = wire.FromOffset, c.next
	}
	if c.grp.known {
		m.From, m.Offset = wire.FromOffset, c.grp.position
	}
	return m
}

// reportGap is the one line on standard error (with the logs, never among
// the records) saying which offsets, from c.next up to before resume, this
// consumer will never see, and why the broker skipped them.
func (c *Consumer) reportGap(resume uint64, why wire.Gap) {
	ev := c.o.Logger.Warn().Str("topic", c.co.Topic).Uint64("missed_from", c.next).Uint64("missed_to", resume-1)
	switch why {
	case wire.GapDamaged:
		ev.Str("reason", "damaged").Msgf("records %d to %d were lost: they lay in a damaged range of the broker's log, cut out because no intact copy was left",
			c.next, resume-1)
	default:
		ev.Str("reason", "retention").Msg("records were removed by retention before this consumer read them")
	}
}

// session runs one subscription — plain, or as a member of a shared group —
// until the connection fails or the handler or ctx ends it. One receive
// loop serves both: what differs (where a session starts, what is done with
// a batch, how a stop and a refusal are handled) is in the methods it calls.
//
// Frames are read into one reused buffer and their records decoded into one
// reused slice (a catch-up read allocated both per frame, a fifth of its
// time with the garbage collection that followed): the handler must be done
// with a batch when Records returns.
func (c *Consumer) session(ctx context.Context, conn *framed.Conn, h Handler, hl *health) error {
	hbDone := make(chan struct{})
	defer close(hbDone)
	go c.l.heartbeat(conn, hbDone, nil)
	sub := c.subscribeMsg()
	if err := conn.Send(wire.Encode(&sub, subCorr)); err != nil {
		return err
	}
	conn.ReuseBodies()
	var m wire.Records // reused: its Records slice is decoded into batch after batch
	started := false
	for {
		if c.grouped() && ctx.Err() != nil {
			return c.leave(conn, ctx.Err())
		}
		// The end of ctx interrupts a wait for the next frame, so a group
		// member leaves the group from here (this goroutine alone sends its
		// acknowledgements), after the last of them.
		f, err := c.l.recvContext(ctx, conn)
		if errors.Is(err, framed.ErrInterrupted) {
			return c.end(conn, ctx.Err())
		}
		if err != nil {
			return err
		}
		switch f.Type {
		case wire.TypeHeartbeat:
			c.l.noteHeartbeat(f)
			hl.answered.Store(true)
		case wire.TypeRecords:
			if err := m.Unmarshal(f.Body); err != nil {
				return err
			}
			if !started {
				started = true
				if err := c.start(&m, h); err != nil {
					return c.end(conn, err)
				}
			}
			if err := c.deliver(conn, &m, h, hl); err != nil {
				return err
			}
		case wire.TypeGroupState:
			var gs wire.GroupState
			if err := gs.Unmarshal(f.Body); err != nil {
				return err
			}
			if err := c.notePosition(gs.Position); err != nil {
				return c.end(conn, err)
			}
		case wire.TypeStats:
			var st wire.Stats
			if err := st.Unmarshal(f.Body); err != nil {
				return err
			}
			h.Stats(&st)
		case wire.TypeError:
			var e wire.Error
			if err := e.Unmarshal(f.Body); err != nil {
				return err
			}
			if e.Code == wire.ErrOffsetOutOfRange {
				return c.outOfRange(e.Message)
			}
			return ackError(e.Code, e.Message, e.Redirect)
		}
	}
}

// subCorr is the correlation id of a session's (only) subscription.
const subCorr = 1

func (c *Consumer) grouped() bool { return c.co.Group != "" }

// end is how a session ends for why, an error or ErrStop of the handler's:
// a group member leaves the group first.
func (c *Consumer) end(conn *framed.Conn, why error) error {
	if c.grouped() {
		return c.leave(conn, why)
	}
	return why
}

// start takes a session's first RECORDS frame, which says where the
// subscription starts and where the committed log ends now.
func (c *Consumer) start(m *wire.Records, h Handler) error {
	if c.grouped() {
		c.o.Logger.Info().Str("topic", c.co.Topic).Str("group", c.co.Group).Uint64("position", m.StartOffset).
			Uint64("committed", m.Committed).Msg("joined the group")
		if err := h.Start(m.StartOffset, m.Committed); err != nil {
			return err
		}
		return c.notePosition(m.StartOffset)
	}
	if !c.have {
		c.next, c.have = m.StartOffset, true
	}
	c.o.Logger.Info().Str("topic", c.co.Topic).Uint64("offset", c.next).Uint64("committed", m.Committed).Msg("subscribed")
	return h.Start(c.next, m.Committed)
}

// deliver hands a batch to the handler. A plain consumer skips what it
// delivered already (a resend after a reconnect: each record arrives once)
// and reports a gap; a group member gets what its leases hold and
// acknowledges what the handler acknowledged.
func (c *Consumer) deliver(conn *framed.Conn, m *wire.Records, h Handler, hl *health) error {
	recs := m.Records
	if c.grouped() {
		if len(recs) == 0 {
			return nil
		}
		hl.progress.Store(true)
		err := h.Records(recs)
		if serr := c.sendAcks(conn, false); serr != nil {
			return serr
		}
		if err != nil {
			return c.leave(conn, err)
		}
		return nil
	}
	for len(recs) > 0 && recs[0].Offset < c.next {
		recs = recs[1:]
	}
	if len(recs) == 0 {
		return nil
	}
	if recs[0].Offset != c.next {
		c.reportGap(recs[0].Offset, m.Gap)
	}
	c.next = recs[len(recs)-1].Offset + 1
	hl.progress.Store(true)
	return h.Records(recs)
}

// outOfRange handles the broker's refusal of the start position: a stored
// position (a group's, a resume point) that retention removed restarts at
// the oldest retained record; a position the user asked for is an error.
func (c *Consumer) outOfRange(msg string) error {
	if c.grouped() {
		if c.grp.known || c.co.Resume {
			c.o.Logger.Warn().Str("group", c.co.Group).Msg(msg + "; the group's position is no longer retained: resuming at the oldest retained record")
			c.grp.known, c.co.Resume, c.co.From = false, false, wire.FromBeginning
			return &retryError{msg: "group position no longer retained"}
		}
		return fatalError{fmt.Errorf("cannot start there: %s", msg)}
	}
	if !c.have && !c.co.Resume {
		return fatalError{fmt.Errorf("cannot start there: %s", msg)}
	}
	if !c.have {
		c.o.Logger.Warn().Uint64("resume_at", c.co.Offset).Msg(msg + "; the stored position is no longer retained: resuming at the oldest retained record")
		c.co.From, c.co.Resume = wire.FromBeginning, false
		return &retryError{msg: "stored position no longer retained"}
	}
	// Our resume point fell out of retention while we were away.
	c.o.Logger.Warn().Uint64("resume_at", c.next).Msg(msg + "; resuming at the oldest retained record")
	c.have, c.co.From = false, wire.FromBeginning
	return &retryError{msg: "resume point no longer retained"}
}
