package broker

import (
	"context"
	"errors"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/groups"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// groupRequest checks what a shared-group SUBSCRIBE adds.
func groupRequest(m *wire.Subscribe) error {
	if err := wire.ValidGroupName(m.Group); err != nil {
		return refuse(wire.ErrBadRequest, err.Error())
	}
	if m.Topic == cluster.OffsetsTopic {
		return refuse(wire.ErrBadRequest, "the offsets topic cannot be read in a group")
	}
	return nil
}

// joinGroup makes the subscription corr a member of its group's Share on
// this broker and returns the group's position. A member that subscribes
// at an offset (FromOffset: a position it stored or was told) has every
// record below it counted as acknowledged; other start points only matter
// to the first member, which makes the Share.
func (c *peer) joinGroup(corr uint64, m *wire.Subscribe, log *topiclog.Log, committed uint64, cancel context.CancelFunc) (*groupMember, uint64, error) {
	var known uint64
	if m.From == wire.FromOffset {
		known = m.Offset
	}
	info := wire.GroupMemberInfo{ConsumerID: orUnnamed(m.ConsumerID), Addr: c.conn.RemoteAddr().String()}
	g, id, err := c.b.shares.join(shareKey{m.Group, m.Topic}, info, known, c.b.cfg.GroupLeaseTimeout,
		func() (uint64, error) { return resolveStart(m, log, committed) })
	if err != nil {
		return nil, 0, err
	}
	gm := &groupMember{g: g, id: id, cancel: cancel}
	c.subsMu.Lock()
	if c.groupSubs == nil {
		c.groupSubs = map[uint64]*groupMember{}
	}
	c.groupSubs[corr] = gm
	c.subsMu.Unlock()
	g.mu.Lock()
	pos := g.sm.Position()
	g.mu.Unlock()
	return gm, pos, nil
}

// leaveGroup ends a member's place in its Share when its subscription
// ends (connection closed, topic moved, GROUP_ACK with leave): what it
// held goes to the other members at once.
func (c *peer) leaveGroup(corr uint64, gm *groupMember) {
	c.subsMu.Lock()
	if c.groupSubs[corr] == gm {
		delete(c.groupSubs, corr)
	}
	c.subsMu.Unlock()
	c.b.shares.leave(gm.g, gm.id)
}

// grant is one visit to the Share: expire, lease, and what the member
// goroutine waits on next.
type grant struct {
	lease    groups.Lease
	ok       bool
	position uint64
	members  int
	wake     <-chan struct{}
	deadline time.Time // earliest lease deadline (zero: none)
}

func (g *shareCoord) grant(id string, committed, max uint64, now time.Time) grant {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.sm.Members()
	l, ok := g.sm.Grant(id, committed, max, now)
	if g.sm.Members() != n {
		g.changed()
	}
	gr := grant{lease: l, ok: ok, position: g.sm.Position(), members: g.sm.Members(), wake: g.wake}
	gr.deadline, _ = g.sm.NextDeadline()
	return gr
}

// done marks [from, to) of a lease processed without delivery (records
// retention or damage removed: the group moves past them as a lone
// consumer does) and gives back what of the lease lies at or above rest.
func (g *shareCoord) settle(id string, l groups.Lease, lost groups.Range, rest uint64, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if lost.Len() > 0 {
		g.sm.Ack(id, lost, now)
	}
	if rest < l.To {
		g.sm.Trim(id, l.From, rest)
	}
	g.changed()
}

// runGroup streams a member's leases: like run, but the next records come
// from the Share rather than from a position of the subscription's own.
func (s *subscription) runGroup(ctx context.Context, gm *groupMember) {
	var tick <-chan time.Time
	if s.window != nil {
		t := time.NewTicker(s.interval)
		defer t.Stop()
		tick = t.C
	}
	committed, changed := s.c.b.cluster.Committed(s.topic)
	s.c.reply(s.corr, &wire.Records{Topic: s.topic, Committed: committed, StartOffset: s.next})
	told, toldMembers := s.next, 0
	s.c.reply(s.corr, &wire.GroupState{Topic: s.topic, Group: s.group, Position: told})
	own := time.NewTicker(ownerCheckEvery)
	defer own.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	for {
		committed, changed = s.c.b.cluster.Committed(s.topic)
		now := time.Now()
		gr := gm.g.grant(gm.id, committed, uint64(s.batch), now)
		if gr.position != told || gr.members != toldMembers {
			told, toldMembers = gr.position, gr.members
			s.c.reply(s.corr, &wire.GroupState{Topic: s.topic, Group: s.group, Position: told, Members: uint32(gr.members)})
		}
		if gr.ok {
			if !s.sendLease(ctx, gm, gr.lease, committed, now) {
				return
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
		var expired <-chan time.Time
		if !gr.deadline.IsZero() {
			expiry.Reset(max(gr.deadline.Sub(now), time.Millisecond))
			expired = expiry.C
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-gr.wake:
		case <-expired:
		case now := <-tick:
			s.sendStats(now, committed)
		case <-own.C:
			if s.moved() {
				return
			}
		}
	}
}

// sendLease reads a lease's records and sends them; false ends the
// subscription.
func (s *subscription) sendLease(ctx context.Context, gm *groupMember, l groups.Lease, committed uint64, now time.Time) bool {
	from := max(l.From, s.log.StartOffset())
	if from > l.From {
		s.c.log.Warn().Str("topic", s.topic).Str("group", s.group).Uint64("lost_from", l.From).
			Uint64("resume_at", from).Msg("group fell behind retention")
	}
	var recs []record.Record
	if from < l.To {
		r, err := s.log.Read(from, int(l.To-from), s.c.b.cfg.MaxFrame/2)
		if err != nil && !errors.Is(err, topiclog.ErrOffsetOutOfRange) {
			s.c.reply(s.corr, refuse(wire.ErrInternal, err.Error()).frame(wire.TypeSubscribe))
			return false
		}
		recs = committedOnly(r, committed)
	}
	if len(recs) > 0 && recs[0].Offset > from && s.awaitRepair(now) {
		// Cut out for damage, and another member may repair it: give the
		// lease back and look again shortly.
		gm.g.settle(gm.id, l, groups.Range{From: l.From, To: from}, l.From, now)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(repairPoll):
		}
		return true
	}
	if len(recs) == 0 {
		// Nothing readable (the log was reset under us): give it back
		// and wait for the log to change, never spin.
		gm.g.settle(gm.id, l, groups.Range{From: l.From, To: from}, from, now)
		_, changed := s.c.b.cluster.Committed(s.topic)
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		case <-time.After(ownerCheckEvery):
		}
		return !s.moved()
	}
	gap := wire.GapRetention
	if recs[0].Offset > from {
		gap = wire.GapDamaged
		s.c.log.Warn().Str("topic", s.topic).Str("group", s.group).Uint64("lost_from", from).
			Uint64("resume_at", recs[0].Offset).Msg("group skipped damaged records cut out of the log")
	}
	end := recs[len(recs)-1].Offset + 1
	if lost := (groups.Range{From: l.From, To: recs[0].Offset}); lost.Len() > 0 || end < l.To {
		gm.g.settle(gm.id, l, lost, end, now)
	}
	if err := s.c.conn.SendMessage(&wire.Records{Topic: s.topic, Committed: committed, Records: recs, Gap: gap}, s.corr); err != nil {
		return false
	}
	if s.window != nil {
		for i := range recs {
			s.window.Add(time.Unix(0, recs[i].Timestamp), recs[i].ProducerID, len(recs[i].Payload))
		}
	}
	s.c.b.counters.delivered.Add(uint64(len(recs)))
	s.delivered += uint64(len(recs))
	if obs := s.c.b.cfg.Observer; obs != nil {
		obs.Delivered(s.topic, len(recs), payloadBytes(recs))
	}
	s.setNext(end)
	return true
}
