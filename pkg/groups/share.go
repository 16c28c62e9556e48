package groups

import (
	"slices"
	"time"
)

// Shared consumption: several members of one group read one topic, each
// record going to one member.
//
// Design. The topic's owner runs one Share per (group, topic) with live
// members, in memory. A Share hands out leases: a range of offsets given to
// one member, to be acknowledged within a timeout. Leases are cut in offset
// order from a cursor (the first offset never handed out); a lease that
// comes back unacknowledged (its member left, or acknowledged nothing for
// the timeout) is handed out again before anything new, lowest offsets
// first. Acknowledgements are ranges, from any member, and are idempotent.
// The group's position is the end of the contiguous acknowledged prefix:
// every record below it was acknowledged by some member, so storing it (in
// the offsets topic, as a single consumer's position is stored) can make a
// record be delivered again after a failover, never skipped.
//
// Why leases of ranges rather than Kafka's partitions: a LogStream topic is
// one log owned by one broker, so there is nothing to divide statically;
// ranges split one log among any number of members, a joining member gets
// work at its first request and a leaving one's records go back at once —
// no stop-the-world rebalance. What is lost is a member seeing a contiguous
// run of the topic: each member sees its leases in offset order, and a
// redelivered range (older than what it saw) comes before new ones.
//
// Share is pure: it takes the time as an argument, does no I/O and is not
// safe for concurrent use (the broker holds a lock around it).
type Share struct {
	timeout time.Duration
	window  int // most leases one member holds at once

	acked  uint64   // position: every offset below was acknowledged
	cursor uint64   // first offset never leased
	done   rangeSet // acknowledged ranges at or above acked (not touching it)
	redo   rangeSet // ranges to lease again before anything new

	members map[string]*shareMember
}

type shareMember struct {
	leases []Lease
	acked  uint64 // records this member acknowledged (for status)
	// late is set when a lease of the member expired, until it
	// acknowledges something: it may be gone without its connection
	// closing, so fairness does not wait for it.
	late bool
}

// Lease is a range of offsets given to one member until Deadline.
type Lease struct {
	Range
	Member   string
	Deadline time.Time
	// Redelivery marks a range handed out before (to a member that left
	// or timed out).
	Redelivery bool
}

// NewShare starts a group's shared reading at start (its stored position,
// or where -from says). timeout is how long a member may hold a lease
// without acknowledging anything; window how many leases it may hold.
func NewShare(start uint64, timeout time.Duration, window int) *Share {
	return &Share{timeout: timeout, window: max(window, 1), acked: start, cursor: start, members: map[string]*shareMember{}}
}

// Position is the end of the contiguous acknowledged prefix.
func (s *Share) Position() uint64 { return s.acked }

// Cursor is the first offset never leased.
func (s *Share) Cursor() uint64 { return s.cursor }

// Members is the number of members.
func (s *Share) Members() int { return len(s.members) }

// Join adds a member. known, if above the position, is a position the
// member learned earlier (from an owner this topic had before a failover,
// or from the offsets topic): every record below it was acknowledged, so
// the Share takes it as acknowledged rather than deliver it again.
func (s *Share) Join(member string, known uint64) {
	if _, ok := s.members[member]; !ok {
		s.members[member] = &shareMember{}
	}
	if known > s.acked {
		s.ack(Range{s.acked, known})
	}
}

// Leave removes a member; the leases it held are handed out again first.
func (s *Share) Leave(member string) {
	m, ok := s.members[member]
	if !ok {
		return
	}
	delete(s.members, member)
	for _, l := range m.leases {
		s.giveBack(l.Range)
	}
}

// giveBack puts the unacknowledged part of r on the redelivery list.
func (s *Share) giveBack(r Range) {
	for _, x := range s.done.minus(Range{max(r.From, s.acked), r.To}) {
		s.redo = s.redo.add(x)
	}
}

// Expire takes back every lease past its deadline at now and returns them
// (they will be redelivered, to whichever member asks first).
func (s *Share) Expire(now time.Time) []Lease {
	var out []Lease
	for _, id := range s.memberIDs() {
		m := s.members[id]
		kept := m.leases[:0]
		for _, l := range m.leases {
			if now.Before(l.Deadline) {
				kept = append(kept, l)
				continue
			}
			out = append(out, l)
			s.giveBack(l.Range)
			m.late = true
		}
		m.leases = kept
	}
	return out
}

// NextDeadline is the earliest deadline of any lease, if there is one.
func (s *Share) NextDeadline() (time.Time, bool) {
	var t time.Time
	for _, m := range s.members {
		for _, l := range m.leases {
			if t.IsZero() || l.Deadline.Before(t) {
				t = l.Deadline
			}
		}
	}
	return t, !t.IsZero()
}

// Grant gives member its next lease of at most max records below
// committed (the topic's committed end): a range to redeliver if there is
// one, else the next records from the cursor. It gives nothing to a member
// that is not joined, already holds its window of leases or more leases
// than another member, or when there is nothing to read. Expired leases
// are taken back first.
func (s *Share) Grant(member string, committed, max uint64, now time.Time) (Lease, bool) {
	s.Expire(now)
	m, ok := s.members[member]
	if !ok || len(m.leases) >= s.window || max == 0 {
		return Lease{}, false
	}
	// Fairness: the members' goroutines race for leases, so whoever wakes
	// first would take everything. A member takes its next lease only
	// when no other member holds fewer (the others catch up first; a
	// member whose lease expired is not waited for), and
	// new records are split among the members level with it, so a trickle
	// of records is spread rather than taken whole by the first.
	level := 0
	for id, o := range s.members {
		switch {
		case id == member || o.late:
		case len(o.leases) < len(m.leases):
			return Lease{}, false
		case len(o.leases) == len(m.leases):
			level++
		}
	}
	l := Lease{Member: member, Deadline: now.Add(s.timeout)}
	switch {
	case len(s.redo) > 0:
		r := s.redo[0]
		l.Range, l.Redelivery = Range{r.From, min(r.To, r.From+max)}, true
		s.redo = s.redo.sub(l.Range)
	case s.cursor < committed:
		share := (committed - s.cursor + uint64(level)) / uint64(level+1) // ceil(available / members level with this one)
		l.Range = Range{s.cursor, s.cursor + min(share, max)}
		s.cursor = l.To
	default:
		return Lease{}, false
	}
	m.leases = append(m.leases, l)
	return l, true
}

// Trim shortens member's lease that starts at from to end at to (the
// broker could read fewer records than it leased, for the frame size): the
// rest goes back, to be leased first.
func (s *Share) Trim(member string, from, to uint64) {
	m, ok := s.members[member]
	if !ok {
		return
	}
	for i := range m.leases {
		l := &m.leases[i]
		if l.From != from || to >= l.To {
			continue
		}
		rest := Range{max(to, l.From), l.To}
		l.To = rest.From
		if rest.To == s.cursor && !l.Redelivery {
			s.cursor = rest.From // nothing was cut after it: just move back
		} else {
			s.giveBack(rest)
		}
		if l.To <= s.acked || s.done.covers(Range{max(l.From, s.acked), l.To}) {
			// Nothing left to acknowledge (empty, or its head was
			// acknowledged as lost): it no longer takes a place in
			// the member's window.
			m.leases = slices.Delete(m.leases, i, i+1)
		}
		return
	}
}

// Ack records that r was processed (by member, or by whoever: an
// acknowledgement counts even from a member whose lease expired or that
// already left). A member's acknowledgement also renews its other leases:
// it is alive and working through them in order.
func (s *Share) Ack(member string, r Range, now time.Time) {
	r = Range{max(r.From, s.acked), min(r.To, s.cursor)}
	if m, ok := s.members[member]; ok {
		m.late = false
		if r.Len() > 0 {
			m.acked += r.Len() - s.doneIn(r)
		}
		for i := range m.leases {
			m.leases[i].Deadline = now.Add(s.timeout)
		}
	}
	if r.Len() == 0 {
		return
	}
	s.ack(r)
}

// doneIn counts the offsets of r already acknowledged.
func (s *Share) doneIn(r Range) uint64 {
	n := r.Len()
	for _, x := range s.done.minus(r) {
		n -= x.Len()
	}
	return n
}

// Acked is how many records member acknowledged.
func (s *Share) Acked(member string) uint64 {
	if m, ok := s.members[member]; ok {
		return m.acked
	}
	return 0
}

// Leased is how many records member holds unacknowledged.
func (s *Share) Leased(member string) uint64 {
	var n uint64
	if m, ok := s.members[member]; ok {
		for _, l := range m.leases {
			for _, x := range s.done.minus(l.Range) {
				n += x.Len()
			}
		}
	}
	return n
}

func (s *Share) ack(r Range) {
	if r.To > s.cursor {
		// Only Join's known position reaches past the cursor: those
		// records need never be leased.
		s.cursor = r.To
	}
	s.done = s.done.add(r)
	s.redo = s.redo.sub(r)
	for len(s.done) > 0 && s.done[0].From <= s.acked {
		s.acked = max(s.acked, s.done[0].To)
		s.done = s.done[1:]
	}
	s.redo = s.redo.sub(Range{0, s.acked})
	// Leases wholly acknowledged are finished, whoever held them.
	for _, m := range s.members {
		kept := m.leases[:0]
		for _, l := range m.leases {
			if l.To > s.acked && !s.done.covers(Range{max(l.From, s.acked), l.To}) {
				kept = append(kept, l)
			}
		}
		m.leases = kept
	}
}

func (s *Share) memberIDs() []string {
	ids := make([]string, 0, len(s.members))
	for id := range s.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
