package broker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/groups"
	"github.com/logstream/logstream/pkg/wire"
)

// Shared consumer groups. The owner of a topic coordinates every group
// whose members read it: one groups.Share per (group, topic), in memory,
// made when the first member subscribes (starting where that member says:
// the group's stored position, or -from) and dropped when the last one
// leaves. Each member's subscription goroutine asks the Share for leases
// and streams them (runGroup); GROUP_ACK frames come in on the connection's
// serve goroutine (groupAck). Nothing here is replicated: the members store
// the group's position (GROUP_STATE tells them) in the offsets topic, and
// after a failover the new owner's Share starts from what the first member
// to arrive knows — at least once for what was unacknowledged, never a gap.

type shareKey struct{ group, topic string }

// shareRegistry holds the Shares of this broker. Lock order: registry,
// then a shareCoord.
type shareRegistry struct {
	mu  sync.Mutex
	m   map[shareKey]*shareCoord
	seq atomic.Uint64 // member ids are unique per subscription
}

// shareCoord is one Share and who its members are; mu guards everything.
type shareCoord struct {
	key     shareKey
	mu      sync.Mutex
	sm      *groups.Share
	members map[string]wire.GroupMemberInfo // by member id: consumer id and address
	wake    chan struct{}                   // closed (and replaced) at every change members may wait for
}

// changed wakes every member's goroutine. Called with g.mu held.
func (g *shareCoord) changed() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// groupMember is one subscription's place in a Share.
type groupMember struct {
	g      *shareCoord
	id     string
	cancel context.CancelFunc
}

// join adds a member to the group's Share on topic, making the Share
// (starting at start()) if the group has none here. start is only called
// then; its error refuses the subscription.
func (r *shareRegistry) join(key shareKey, info wire.GroupMemberInfo, known uint64, timeout time.Duration,
	start func() (uint64, error)) (*shareCoord, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.m[key]
	if !ok {
		at, err := start()
		if err != nil {
			return nil, "", err
		}
		if timeout <= 0 {
			timeout = defaults.GroupLeaseTimeout
		}
		g = &shareCoord{key: key, sm: groups.NewShare(at, timeout, defaults.GroupLeasesPerMember),
			members: map[string]wire.GroupMemberInfo{}, wake: make(chan struct{})}
		if r.m == nil {
			r.m = map[shareKey]*shareCoord{}
		}
		r.m[key] = g
	}
	id := fmt.Sprintf("%s#%d", info.ConsumerID, r.seq.Add(1))
	g.mu.Lock()
	g.sm.Join(id, known)
	g.members[id] = info
	g.changed()
	g.mu.Unlock()
	return g, id, nil
}

// leave removes a member (its leases go to the others at once) and drops
// the Share when it was the last. It returns the group's position then.
func (r *shareRegistry) leave(g *shareCoord, id string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sm.Leave(id)
	delete(g.members, id)
	if len(g.members) == 0 && r.m[g.key] == g {
		delete(r.m, g.key)
	}
	g.changed()
	return g.sm.Position()
}

// snapshot describes every Share for status, sorted by group and topic.
func (r *shareRegistry) snapshot() []wire.GroupInfo {
	r.mu.Lock()
	gs := make([]*shareCoord, 0, len(r.m))
	for _, g := range r.m {
		gs = append(gs, g)
	}
	r.mu.Unlock()
	out := make([]wire.GroupInfo, 0, len(gs))
	for _, g := range gs {
		g.mu.Lock()
		info := wire.GroupInfo{Group: g.key.group, Topic: g.key.topic, Position: g.sm.Position()}
		for id, m := range g.members {
			m.Leased, m.Acked = g.sm.Leased(id), g.sm.Acked(id)
			info.Members = append(info.Members, m)
		}
		g.mu.Unlock()
		slices.SortFunc(info.Members, func(a, b wire.GroupMemberInfo) int {
			return cmp.Compare(a.ConsumerID+a.Addr, b.ConsumerID+b.Addr)
		})
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b wire.GroupInfo) int { return cmp.Compare(a.Group+"\x00"+a.Topic, b.Group+"\x00"+b.Topic) })
	return out
}

// groupAck applies a member's acknowledgements (and its leave) and
// answers a leave with the final GROUP_STATE. An acknowledgement for a
// subscription that has ended (the topic moved, the member timed out) is
// dropped: the records it names are redelivered, at least once.
func (c *peer) groupAck(corr uint64, m *wire.GroupAck) wire.Message {
	c.subsMu.Lock()
	gm := c.groupSubs[corr]
	c.subsMu.Unlock()
	if gm == nil || gm.g.key != (shareKey{m.Group, m.Topic}) {
		if m.Leave {
			return &wire.GroupState{Topic: m.Topic, Group: m.Group, Final: true}
		}
		return nil
	}
	now := time.Now()
	gm.g.mu.Lock()
	for _, r := range m.Ranges {
		gm.g.sm.Ack(gm.id, groups.Range{From: r.From, To: r.To}, now)
	}
	gm.g.changed()
	pos, n := gm.g.sm.Position(), gm.g.sm.Members()
	gm.g.mu.Unlock()
	if !m.Leave {
		return nil
	}
	gm.cancel()
	pos = c.b.shares.leave(gm.g, gm.id)
	c.b.log.Info().Str("group", m.Group).Str("topic", m.Topic).Str("member", gm.id).Uint64("position", pos).
		Msgf("CONSUME: %s left group %s on topic %s (position %d)", gm.id, m.Group, m.Topic, pos)
	return &wire.GroupState{Topic: m.Topic, Group: m.Group, Position: pos, Members: uint32(max(n, 1) - 1), Final: true}
}
