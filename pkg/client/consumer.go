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
// log at that moment; returning ErrStop ends Run.
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

func (c *Consumer) session(ctx context.Context, conn *framed.Conn, h Handler, hl *health) error {
	if c.co.Group != "" {
		return c.groupSession(ctx, conn, h, hl)
	}
	hbDone := make(chan struct{})
	defer close(hbDone)
	go c.l.heartbeat(conn, hbDone)
	const subCorr = 1
	sub := c.subscribeMsg()
	if err := conn.Send(wire.Encode(&sub, subCorr)); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	started := false
	for {
		f, err := c.l.recv(conn)
		if err != nil {
			return err
		}
		switch f.Type {
		case wire.TypeHeartbeat:
			c.l.noteHeartbeat(f)
			hl.answered.Store(true)
		case wire.TypeRecords:
			var m wire.Records
			if err := m.Unmarshal(f.Body); err != nil {
				return err
			}
			if !started {
				started = true
				if !c.have {
					c.next, c.have = m.StartOffset, true
				}
				c.o.Logger.Info().Str("topic", c.co.Topic).Uint64("offset", c.next).Uint64("committed", m.Committed).Msg("subscribed")
				if err := h.Start(c.next, m.Committed); err != nil {
					return err
				}
			}
			recs := m.Records
			// Anything before next was delivered already (a resend after
			// a reconnect): skip it so each record arrives once.
			for len(recs) > 0 && recs[0].Offset < c.next {
				recs = recs[1:]
			}
			if len(recs) == 0 {
				continue
			}
			if recs[0].Offset != c.next {
				c.reportGap(recs[0].Offset, m.Gap)
			}
			c.next = recs[len(recs)-1].Offset + 1
			hl.progress.Store(true)
			if err := h.Records(recs); err != nil {
				return err
			}
		case wire.TypeStats:
			var m wire.Stats
			if err := m.Unmarshal(f.Body); err != nil {
				return err
			}
			h.Stats(&m)
		case wire.TypeError:
			var m wire.Error
			if err := m.Unmarshal(f.Body); err != nil {
				return err
			}
			if m.Code == wire.ErrOffsetOutOfRange {
				if !c.have && !c.co.Resume {
					return fatalError{fmt.Errorf("cannot start there: %s", m.Message)}
				}
				if !c.have {
					c.o.Logger.Warn().Uint64("resume_at", c.co.Offset).Msg(m.Message + "; the stored position is no longer retained: resuming at the oldest retained record")
					c.co.From, c.co.Resume = wire.FromBeginning, false
					return &retryError{msg: "stored position no longer retained"}
				}
				// Our resume point fell out of retention while we were away.
				c.o.Logger.Warn().Uint64("resume_at", c.next).Msg(m.Message + "; resuming at the oldest retained record")
				c.have, c.co.From = false, wire.FromBeginning
				return &retryError{msg: "resume point no longer retained"}
			}
			return ackError(m.Code, m.Message, m.Redirect)
		}
	}
}
