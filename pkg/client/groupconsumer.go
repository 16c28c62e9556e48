package client

import (
	"errors"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// A member of a shared consumer group (ConsumerOptions.Group) subscribes
// like any consumer, naming the group; the topic's owner gives it leases of
// offset ranges (pkg/groups.Share) and it acknowledges what it processed
// with GROUP_ACK. The owner tells it the group's position (GROUP_STATE),
// which it passes to OnPosition (the CLI stores it in the offsets topic)
// and, after a reconnect, subscribes with, so a new owner starts there. A
// member that stops (ctx ends, the handler returns ErrStop) leaves the
// group first, acknowledging what it processed and giving back the rest.

// groupLeaveTimeout bounds how long a stopping member waits for the owner
// to confirm it left (then it just closes: its records go back anyway).
const groupLeaveTimeout = 3 * time.Second

// groupState is the consumer goroutine's group bookkeeping.
type groupState struct {
	position uint64 // newest group position the owner told us
	known    bool
	acks     []wire.GroupRange // acknowledged by the handler, not yet sent
}

// Ack acknowledges records of a shared group's lease: call it from
// Handler.Records with the records (a prefix of the batch, or all of it)
// that were processed. Unacknowledged records are redelivered, to this
// member or another, once this member leaves or acknowledges nothing for
// the broker's lease timeout. Without a group it does nothing.
func (c *Consumer) Ack(recs []record.Record) {
	if c.co.Group == "" {
		return
	}
	for i := range recs {
		o := recs[i].Offset
		if n := len(c.grp.acks); n > 0 && c.grp.acks[n-1].To == o {
			c.grp.acks[n-1].To = o + 1
			continue
		}
		c.grp.acks = append(c.grp.acks, wire.GroupRange{From: o, To: o + 1})
	}
}

// GroupPosition is the newest group position the owner told this member.
func (c *Consumer) GroupPosition() (uint64, bool) { return c.grp.position, c.grp.known }

// sendAcks sends the handler's acknowledgements, if any.
func (c *Consumer) sendAcks(conn *framed.Conn, leave bool) error {
	acks := c.grp.acks
	c.grp.acks = nil
	for len(acks) > 0 || leave {
		n := min(len(acks), wire.MaxGroupRanges)
		m := wire.GroupAck{Topic: c.co.Topic, Group: c.co.Group, Ranges: acks[:n]}
		acks = acks[n:]
		if len(acks) == 0 {
			m.Leave, leave = leave, false
		}
		if err := conn.Send(wire.Encode(&m, subCorr)); err != nil {
			return err
		}
	}
	return nil
}

// notePosition takes a GROUP_STATE's position.
func (c *Consumer) notePosition(pos uint64) error {
	if c.grp.known && pos <= c.grp.position {
		return nil
	}
	c.grp.position, c.grp.known = pos, true
	if c.co.OnPosition != nil {
		return c.co.OnPosition(pos)
	}
	return nil
}

// leave acknowledges what the handler processed, leaves the group and
// waits (bounded) for the owner's final position; it returns why.
func (c *Consumer) leave(conn *framed.Conn, why error) error {
	if err := c.sendAcks(conn, true); err != nil {
		return why
	}
	deadline := time.Now().Add(groupLeaveTimeout)
	conn.SetReadDeadline(deadline)
	for time.Now().Before(deadline) {
		f, err := conn.Recv()
		if err != nil {
			c.o.Logger.Warn().Err(err).Str("group", c.co.Group).Msg("left the group without the broker's confirmation")
			break
		}
		if f.Type != wire.TypeGroupState {
			continue // records after the leave are not ours: the broker took them back
		}
		var m wire.GroupState
		if err := m.Unmarshal(f.Body); err != nil {
			break
		}
		if perr := c.notePosition(m.Position); perr != nil && !errors.Is(perr, ErrStop) {
			c.o.Logger.Warn().Err(perr).Msg("group position")
		}
		if m.Final {
			c.o.Logger.Info().Str("group", c.co.Group).Uint64("position", m.Position).Msg("left the group")
			break
		}
	}
	return why
}
