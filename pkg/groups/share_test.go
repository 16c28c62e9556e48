package groups

import (
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

const timeout = 10 * time.Second

func grant(t *testing.T, s *Share, member string, committed, max uint64, now time.Time) Lease {
	t.Helper()
	l, ok := s.Grant(member, committed, max, now)
	if !ok {
		t.Fatalf("%s got no lease (committed %d, cursor %d, position %d)", member, committed, s.Cursor(), s.Position())
	}
	return l
}

func noGrant(t *testing.T, s *Share, member string, committed uint64, now time.Time) {
	t.Helper()
	if l, ok := s.Grant(member, committed, 10, now); ok {
		t.Fatalf("%s got lease %+v, want none", member, l)
	}
}

func TestShareSplitsWithoutOverlap(t *testing.T) {
	s := NewShare(100, timeout, 2)
	s.Join("a", 0)
	s.Join("b", 0)
	a1 := grant(t, s, "a", 200, 10, t0)
	b1 := grant(t, s, "b", 200, 10, t0)
	a2 := grant(t, s, "a", 200, 10, t0)
	if a1.Range != (Range{100, 110}) || b1.Range != (Range{110, 120}) || a2.Range != (Range{120, 130}) {
		t.Fatalf("leases %v %v %v, want consecutive ranges of 10 from 100", a1.Range, b1.Range, a2.Range)
	}
	noGrant(t, s, "a", 200, t0) // its window of 2 is full
	noGrant(t, s, "c", 200, t0) // not a member
}

func TestShareGrantsOnlyCommitted(t *testing.T) {
	s := NewShare(0, timeout, 4)
	s.Join("a", 0)
	if l := grant(t, s, "a", 5, 10, t0); l.Range != (Range{0, 5}) {
		t.Fatalf("lease %v, want [0,5)", l.Range)
	}
	noGrant(t, s, "a", 5, t0)
	if l := grant(t, s, "a", 7, 10, t0); l.Range != (Range{5, 7}) {
		t.Fatalf("lease %v, want [5,7)", l.Range)
	}
}

func TestSharePositionIsContiguousAckedPrefix(t *testing.T) {
	s := NewShare(0, timeout, 4)
	s.Join("a", 0)
	s.Join("b", 0)
	a := grant(t, s, "a", 100, 10, t0)
	b := grant(t, s, "b", 100, 10, t0)
	s.Ack("b", b.Range, t0)
	if s.Position() != 0 {
		t.Fatalf("position %d after acking [10,20) only, want 0 (records 0..9 are not acknowledged)", s.Position())
	}
	s.Ack("a", Range{0, 5}, t0)
	if s.Position() != 5 {
		t.Fatalf("position %d, want 5", s.Position())
	}
	s.Ack("a", a.Range, t0)
	if s.Position() != 20 {
		t.Fatalf("position %d, want 20 once both ranges are acknowledged", s.Position())
	}
	s.Ack("a", Range{0, 20}, t0) // again: idempotent
	if s.Position() != 20 || s.Acked("a") != 10 || s.Acked("b") != 10 {
		t.Fatalf("position %d, acked a %d b %d after a repeated ack; want 20, 10, 10", s.Position(), s.Acked("a"), s.Acked("b"))
	}
	s.Ack("a", Range{50, 60}, t0) // never leased: beyond the cursor, ignored
	// Both members are idle: a takes half of what is there.
	if l := grant(t, s, "a", 100, 100, t0); l.Range != (Range{20, 60}) {
		t.Fatalf("lease %v, want [20,60)", l.Range)
	}
}

func TestShareRedeliversAfterLeaseTimeout(t *testing.T) {
	s := NewShare(0, timeout, 1)
	s.Join("a", 0)
	s.Join("b", 0)
	a := grant(t, s, "a", 100, 10, t0)
	if exp := s.Expire(t0.Add(timeout - time.Nanosecond)); len(exp) != 0 {
		t.Fatalf("expired %v before the timeout", exp)
	}
	b := grant(t, s, "b", 100, 10, t0.Add(time.Second))
	if b.Range != (Range{10, 20}) {
		t.Fatalf("b's lease %v, want [10,20)", b.Range)
	}
	s.Ack("b", b.Range, t0.Add(2*time.Second))
	// a acknowledged nothing for the timeout: its lease is redelivered to
	// b, first, marked as such.
	r := grant(t, s, "b", 100, 10, t0.Add(timeout))
	if r.Range != a.Range || !r.Redelivery {
		t.Fatalf("after the timeout b got %+v, want a redelivery of %v", r, a.Range)
	}
	if s.Leased("a") != 0 {
		t.Fatalf("a still holds %d records", s.Leased("a"))
	}
	// a's late acknowledgement still counts; b's lease of the same
	// records is then finished.
	s.Ack("a", a.Range, t0.Add(timeout+time.Second))
	if s.Position() != 20 || s.Leased("b") != 0 {
		t.Fatalf("position %d, b holds %d; want 20 and 0", s.Position(), s.Leased("b"))
	}
}

func TestShareAckRenewsLeases(t *testing.T) {
	s := NewShare(0, timeout, 2)
	s.Join("a", 0)
	a1 := grant(t, s, "a", 100, 10, t0)
	a2 := grant(t, s, "a", 100, 10, t0)
	// a is slow but working: it acknowledges its first lease just
	// before the timeout, which renews the second.
	s.Ack("a", a1.Range, t0.Add(timeout-time.Second))
	if exp := s.Expire(t0.Add(timeout + time.Second)); len(exp) != 0 {
		t.Fatalf("a's lease %v expired although a acknowledged %s ago", exp, 2*time.Second)
	}
	if exp := s.Expire(t0.Add(2*timeout - time.Second)); len(exp) != 1 || exp[0].Range != a2.Range {
		t.Fatalf("expired %v, want a's second lease %v a timeout after a's last ack", exp, a2.Range)
	}
}

func TestShareLeaveRedeliversAtOnce(t *testing.T) {
	s := NewShare(0, timeout, 4)
	s.Join("a", 0)
	a1 := grant(t, s, "a", 100, 10, t0)
	a2 := grant(t, s, "a", 100, 10, t0)
	s.Ack("a", Range{a2.From, a2.From + 3}, t0) // part of a2 done
	s.Join("b", 0)
	s.Leave("a")
	r1 := grant(t, s, "b", 100, 100, t0)
	r2 := grant(t, s, "b", 100, 100, t0)
	r3 := grant(t, s, "b", 100, 100, t0)
	if r1.Range != a1.Range || r2.Range != (Range{a2.From + 3, a2.To}) || r3.Range != (Range{20, 100}) {
		t.Fatalf("b got %v %v %v; want a's unacknowledged %v and [%d,%d) first, then [20,100)", r1.Range, r2.Range, r3.Range, a1.Range, a2.From+3, a2.To)
	}
	if !r1.Redelivery || !r2.Redelivery || r3.Redelivery {
		t.Fatal("redelivery flags wrong")
	}
}

func TestShareJoinRebalancesWithoutWaiting(t *testing.T) {
	s := NewShare(0, timeout, 2)
	s.Join("a", 0)
	grant(t, s, "a", 1000, 10, t0)
	grant(t, s, "a", 1000, 10, t0)
	noGrant(t, s, "a", 1000, t0)
	s.Join("b", 0) // b gets work at once, from where a's leases end
	if l := grant(t, s, "b", 1000, 10, t0); l.Range != (Range{20, 30}) {
		t.Fatalf("newcomer got %v, want [20,30)", l.Range)
	}
}

func TestShareJoinWithKnownPosition(t *testing.T) {
	// After a failover the new owner's Share starts at what the first
	// member to arrive knew; a member that knew a later position moves it
	// on (those records were acknowledged on the old owner).
	s := NewShare(40, timeout, 2)
	s.Join("a", 0)
	l := grant(t, s, "a", 100, 10, t0)
	s.Join("b", 45)
	if s.Position() != 45 {
		t.Fatalf("position %d, want 45", s.Position())
	}
	s.Join("c", 70) // beyond the cursor: never leased
	if s.Position() != 70 || s.Leased("a") != 0 {
		t.Fatalf("position %d, a holds %d (lease %v); want 70 and 0", s.Position(), s.Leased("a"), l.Range)
	}
	if g := grant(t, s, "b", 100, 10, t0); g.Range != (Range{70, 80}) {
		t.Fatalf("lease %v, want [70,80)", g.Range)
	}
	s.Join("d", 10) // behind: changes nothing
	if s.Position() != 70 {
		t.Fatalf("position %d, want 70", s.Position())
	}
}

func TestShareTrimGivesBackTheTail(t *testing.T) {
	s := NewShare(0, timeout, 4)
	s.Join("a", 0)
	l := grant(t, s, "a", 100, 50, t0)
	s.Trim("a", l.From, 20) // only 20 records fitted a frame
	if s.Cursor() != 20 || s.Leased("a") != 20 {
		t.Fatalf("cursor %d, a holds %d; want 20 and 20", s.Cursor(), s.Leased("a"))
	}
	s.Join("b", 0)
	s.Leave("a")
	r := grant(t, s, "b", 100, 50, t0)
	s.Trim("b", r.From, 5) // a trimmed redelivery goes back to redo
	if n := grant(t, s, "b", 100, 50, t0); n.Range != (Range{5, 20}) || !n.Redelivery {
		t.Fatalf("after trimming a redelivery, got %+v, want a redelivery of [5,20)", n)
	}
}

// TestShareRandomized drives a Share with members joining, leaving, timing
// out, acknowledging in any order and acknowledging late, from a seeded
// random source, and checks after every step: the position never moves
// back, and every offset below it was acknowledged; no offset is leased to
// two members at once. At the end every member acknowledges what it holds
// until the Share is drained: the position reaches the committed end, so no
// record was lost.
func TestShareRandomized(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := NewShare(0, timeout, 1+rng.IntN(4))
		now := t0
		acked := map[uint64]bool{}
		held := map[string][]Lease{}
		names := []string{"a", "b", "c", "d"}
		committed := uint64(0)
		var last uint64
		check := func(step int) {
			if s.Position() < last {
				t.Fatalf("seed %d step %d: position moved back from %d to %d", seed, step, last, s.Position())
			}
			last = s.Position()
			for o := uint64(0); o < s.Position(); o++ {
				if !acked[o] {
					t.Fatalf("seed %d step %d: position %d but offset %d was never acknowledged", seed, step, s.Position(), o)
				}
			}
			owner := map[uint64]string{}
			for _, m := range s.memberIDs() {
				for _, l := range s.members[m].leases {
					for o := l.From; o < l.To; o++ {
						if acked[o] {
							continue
						}
						if w, dup := owner[o]; dup {
							t.Fatalf("seed %d step %d: offset %d leased to %s and %s", seed, step, o, w, m)
						}
						owner[o] = m
					}
				}
			}
		}
		for step := 0; step < 400; step++ {
			m := names[rng.IntN(len(names))]
			switch k := rng.IntN(10); {
			case k == 0:
				s.Join(m, 0)
			case k == 1 && rng.IntN(3) == 0:
				s.Leave(m)
				delete(held, m)
			case k == 2:
				now = now.Add(time.Duration(rng.IntN(4)) * time.Second)
			case k == 3:
				committed += uint64(rng.IntN(30))
			case k <= 6:
				if l, ok := s.Grant(m, committed, 1+uint64(rng.IntN(12)), now); ok {
					if rng.IntN(5) == 0 {
						to := l.From + uint64(rng.IntN(int(l.Len())))
						s.Trim(m, l.From, to)
						l.To = to
					}
					if l.Len() > 0 {
						held[m] = append(held[m], l)
					}
				}
			default:
				// Acknowledge one held lease (maybe a part, maybe long
				// after it expired: acknowledgements are never refused).
				if len(held[m]) == 0 {
					continue
				}
				i := rng.IntN(len(held[m]))
				l := held[m][i]
				r := l.Range
				if rng.IntN(4) == 0 {
					r.To = r.From + uint64(rng.IntN(int(r.Len())+1))
				}
				for o := r.From; o < r.To; o++ {
					acked[o] = true
				}
				s.Ack(m, r, now)
				held[m] = append(held[m][:i], held[m][i+1:]...)
			}
			check(step)
		}
		// Drain: one member takes and acknowledges everything left.
		s.Join("z", 0)
		for i := 0; s.Position() < committed; i++ {
			if i > 10000 {
				t.Fatalf("seed %d: not drained: position %d, committed %d", seed, s.Position(), committed)
			}
			now = now.Add(timeout) // whatever others hold expires
			l, ok := s.Grant("z", committed, 50, now)
			if !ok {
				continue
			}
			for o := l.From; o < l.To; o++ {
				acked[o] = true
			}
			s.Ack("z", l.Range, now)
			check(-1)
		}
	}
}

func TestShareTrimOfAckedHeadFreesTheWindow(t *testing.T) {
	// Retention removed the head of a lease (acknowledged as lost) and
	// nothing else could be read: the rest goes back and the lease must
	// stop taking a place in the member's window.
	s := NewShare(0, timeout, 1)
	s.Join("a", 0)
	l := grant(t, s, "a", 100, 10, t0)
	s.Ack("a", Range{0, 4}, t0)
	s.Trim("a", l.From, 4)
	if g := grant(t, s, "a", 100, 10, t0); g.Range != (Range{4, 14}) {
		t.Fatalf("lease %v, want [4,14) at once", g.Range)
	}
}

func TestShareIsFair(t *testing.T) {
	s := NewShare(0, timeout, 4)
	for _, m := range []string{"a", "b", "c"} {
		s.Join(m, 0)
	}
	// A trickle of 30 records is split three ways even if a asks first
	// and keeps asking.
	if l := grant(t, s, "a", 30, 100, t0); l.Range != (Range{0, 10}) {
		t.Fatalf("a's lease %v, want [0,10)", l.Range)
	}
	noGrant(t, s, "a", 30, t0) // b and c hold fewer leases
	if l := grant(t, s, "b", 30, 100, t0); l.Range != (Range{10, 20}) {
		t.Fatalf("b's lease %v, want [10,20)", l.Range)
	}
	if l := grant(t, s, "c", 30, 100, t0); l.Range != (Range{20, 30}) {
		t.Fatalf("c's lease %v, want [20,30)", l.Range)
	}
	// A backlog: full leases, taken in turns.
	for i := 0; i < 3; i++ {
		for _, m := range []string{"c", "a", "b"} {
			if l := grant(t, s, m, 100000, 100, t0); l.Len() != 100 {
				t.Fatalf("%s's lease %v, want 100 records", m, l.Range)
			}
		}
	}
	noGrant(t, s, "a", 100000, t0) // window of 4 full
}

func TestShareFairnessDoesNotWaitForALateMember(t *testing.T) {
	// A member cut off without its connection closing holds nothing once
	// its lease expired, and asks for nothing: the others must not wait
	// for it to catch up.
	s := NewShare(0, timeout, 4)
	s.Join("gone", 0)
	s.Join("a", 0)
	grant(t, s, "gone", 1000, 10, t0)
	l := grant(t, s, "a", 1000, 10, t0)
	s.Ack("a", l.Range, t0)
	now := t0.Add(timeout)
	r := grant(t, s, "a", 1000, 10, now) // the expired lease, redelivered
	if !r.Redelivery {
		t.Fatalf("got %+v, want the expired lease", r)
	}
	grant(t, s, "a", 1000, 10, now) // and more, though "gone" holds none
}
