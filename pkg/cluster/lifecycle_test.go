package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// Whole-life scenarios (issue: cluster lifecycle): every broker restarts,
// brokers bootstrap apart and meet. Each waits on simulated time only.

// commitSome has the cluster acknowledge n single-record batches and returns
// their seqs.
func (c *cluster) commitSome(first, n uint64) []uint64 {
	c.t.Helper()
	return c.commitSomeVia(0, first, n)
}

// commitSomeVia is commitSome through node via (0: a different node each
// time).
func (c *cluster) commitSomeVia(via NodeID, first, n uint64) []uint64 {
	c.t.Helper()
	var seqs []uint64
	for q := first; q < first+n; q++ {
		tok := 1000 + q
		c.waitFor(fmt.Sprintf("seq %d acknowledged", q), 5*time.Second, func() bool {
			if c.acked(tok) {
				return true
			}
			if _, tried := c.acks[tok]; tried || q == first || c.s.now.UnixMilli()%50 == 0 {
				delete(c.acks, tok)
				to := via
				if to == 0 {
					to = 1 + NodeID(q)%NodeID(len(c.s.ids))
				}
				_ = c.produce(to, tok, q)
			}
			return c.acked(tok)
		})
		seqs = append(seqs, q)
	}
	return seqs
}

// holdsAll reports whether node id's committed prefix of "logs" holds every
// seq exactly once and in order.
func (c *cluster) holdsAll(id NodeID, seqs []uint64) error {
	sn := c.s.nodes[id]
	// Commit indexes reach followers with the next REPLICATE or heartbeat.
	for end := c.s.now.Add(2 * time.Second); c.s.now.Before(end) && sn.node.Committed("logs") < uint64(len(seqs)); {
		c.s.step(10 * time.Millisecond)
	}
	l := sn.store.topics["logs"]
	if l == nil {
		return fmt.Errorf("node %d has no log", id)
	}
	committed := sn.node.Committed("logs")
	var got []uint64
	for off := l.start; off < committed; off++ {
		got = append(got, l.at(off).Seq)
	}
	i := 0
	for _, q := range got {
		if i < len(seqs) && q == seqs[i] {
			i++
		} else if i < len(seqs) && q > seqs[i] {
			break
		}
	}
	if i != len(seqs) {
		return fmt.Errorf("node %d committed %v, want every one of %v once and in order", id, got, seqs)
	}
	return nil
}

// A whole-cluster restart re-forms by itself, in every order, without the
// runtime's discovery (LEADER_ADDRESS at a broker that is down, or
// broadcast lost): the node's own fallback elects over the last view. On
// the code before the fix the brokers waited for an election nobody
// started.
func TestWholeClusterRestartReformsByItself(t *testing.T) {
	orders := map[string][]NodeID{"all at once": {1, 2, 3}, "old leader last": {3, 2, 1}, "staggered": {2, 1, 3}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, 3)
			seqs := c.commitSome(1, 5)
			for _, id := range c.s.ids {
				c.s.crash(id)
			}
			c.s.step(50 * time.Millisecond)
			for i, id := range order {
				if name == "staggered" && i > 0 {
					for end := c.s.now.Add(400 * time.Millisecond); c.s.now.Before(end); {
						c.s.step(10 * time.Millisecond)
					}
				}
				c.s.restart(id)
			}
			// No discover(): only the nodes themselves.
			for end := c.s.now.Add(3 * time.Second); c.s.now.Before(end) && !c.oneView(1, 2, 3); {
				c.s.step(10 * time.Millisecond)
			}
			if !c.oneView(1, 2, 3) {
				t.Fatalf("no view of three within 3 s of the restart\n%s", c.s.trace())
			}
			seqs = append(seqs, c.commitSome(6, 2)...)
			for _, id := range c.s.ids {
				if err := c.holdsAll(id, seqs); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// With discovery, brokers that all answer "no leader" elect at once rather
// than after the failure timeout.
func TestWholeClusterRestartWithDiscoveryElectsAtOnce(t *testing.T) {
	c := newCluster(t, 3)
	seqs := c.commitSome(1, 3)
	for _, id := range c.s.ids {
		c.s.crash(id)
	}
	for _, id := range c.s.ids {
		c.s.restart(id)
	}
	start := c.s.now
	c.waitFor("one view of three", 2*time.Second, func() bool { return c.oneView(1, 2, 3) })
	if took := c.s.now.Sub(start); took >= c.s.cfg.FailureTimeout {
		t.Errorf("re-formed after %v; discovery saying nobody leads should start the election before the failure timeout (%v)", took, c.s.cfg.FailureTimeout)
	}
	for _, id := range c.s.ids {
		if err := c.holdsAll(id, seqs); err != nil {
			t.Fatal(err)
		}
	}
}

// Three fresh brokers that each bootstrapped alone (none heard the others'
// JOIN) hold no records: they end as one cluster, the two that give theirs
// up joining the third. Before cluster identities, the one that stepped
// down stayed outside, deaf to the leader's heartbeats of an equal view.
func TestFreshBrokersThatBootstrappedApartBecomeOne(t *testing.T) {
	s := newSimnet(42, 3, nil)
	c := &cluster{t: t, s: s, acks: map[uint64]Ack{}}
	s.onReady = func(_ *simNode, rd Ready) {
		for _, a := range rd.Acks {
			c.acks[a.Token] = a
		}
	}
	for _, id := range s.ids {
		s.nodes[id].node.Bootstrap(s.now)
		s.flush(s.nodes[id])
	}
	if s.nodes[1].node.Cluster() == s.nodes[2].node.Cluster() {
		t.Fatal("two bootstraps drew one cluster identity")
	}
	for end := s.now.Add(2 * time.Second); s.now.Before(end) && !c.oneView(1, 2, 3); {
		s.step(10 * time.Millisecond)
	}
	if !c.oneView(1, 2, 3) {
		t.Fatalf("not one view of three 2 s after three lone bootstraps\n%s", s.trace())
	}
	cl := s.nodes[1].node.Cluster()
	for _, id := range s.ids {
		if got := s.nodes[id].node.Cluster(); got != cl {
			t.Errorf("node %d in cluster %x, node 1 in %x", id, got, cl)
		}
	}
	c.commitSome(1, 2)
}

// A broker that bootstrapped alone (a new disk, cut off at start) and took
// records meets the real cluster, which has records too. Neither side may
// lose anything: the merge is refused, both keep serving, and neither
// broker's log is cut. Before identities, the merging recovery gave the
// lone broker's topic an agreed end of 0 and truncated it.
func TestClustersWithRecordsAreNeverMergedAway(t *testing.T) {
	c := newCluster(t, 3)
	s := c.s
	// Node 3 leaves for a cluster of its own: a wiped broker starting alone
	// is a fresh node that bootstraps.
	s.crash(3)
	s.nodes[3].store = newMemStore()
	s.restart(3)
	s.partition([]NodeID{3}, []NodeID{1, 2})
	s.nodes[3].node.Bootstrap(s.now)
	s.flush(s.nodes[3])
	lone := map[uint64]bool{}
	for q := uint64(1); q <= 4; q++ {
		tok := 500 + q
		c.waitFor("lone broker acknowledges", 2*time.Second, func() bool {
			if !c.acked(tok) {
				_ = s.nodes[3].node.Propose(s.now, "logs", []record.Record{{ProducerID: "lone", Seq: q, Payload: []byte{1}}}, tok)
				s.flush(s.nodes[3])
			}
			return c.acked(tok)
		})
		lone[q] = true
	}
	main := c.commitSomeVia(1, 1, 3)
	s.heal()
	for end := s.now.Add(2 * time.Second); s.now.Before(end); {
		s.step(10 * time.Millisecond)
		if s.now.UnixMilli()%100 == 0 {
			s.discover()
		}
	}
	l3 := s.nodes[3].store.topics["logs"]
	for q := range lone {
		if _, ok := findRecord(l3, recKey{"lone", q}); !ok {
			t.Errorf("the lone broker lost its acknowledged record %d", q)
		}
	}
	for _, id := range []NodeID{1, 2} {
		if err := c.holdsAll(id, main); err != nil {
			t.Error(err)
		}
	}
	if s.nodes[3].node.Cluster() == s.nodes[1].node.Cluster() {
		t.Error("the lone broker with records was merged into the other cluster")
	}
	if !s.nodes[3].node.canCommit() || !s.nodes[1].node.canCommit() {
		t.Error("both sides must keep serving")
	}
}

// A damaged range of a follower's log, and then of the owner's, is
// repaired from a replica: every member ends with every acknowledged record
// intact, and the topic keeps serving meanwhile.
func TestDamagedRangeRepairedFromAReplica(t *testing.T) {
	for _, who := range []string{"follower", "owner"} {
		t.Run(who, func(t *testing.T) {
			c := newCluster(t, 3)
			seqs := c.commitSome(1, 20)
			owner := c.s.nodes[1].node.ownerOf("logs")
			victim := owner
			if who == "follower" {
				victim = 1 + owner%3
			}
			for _, id := range c.s.ids {
				c.holdsAll(id, seqs) // commit indexes settle first
			}
			l := c.s.nodes[victim].store.topics["logs"]
			l.damage(5, 12)
			if len(l.Holes()) != 1 {
				t.Fatalf("holes %v", l.Holes())
			}
			seqs = append(seqs, c.commitSome(21, 3)...) // serving meanwhile
			c.waitFor("the hole repaired", 3*time.Second, func() bool { return len(l.Holes()) == 0 })
			for _, id := range c.s.ids {
				if err := c.holdsAll(id, seqs); err != nil {
					t.Fatal(err)
				}
				for off := uint64(0); off < 23; off++ {
					if r := c.s.nodes[id].store.topics["logs"].at(off); r.ProducerID != "p" {
						t.Fatalf("node %d offset %d holds %+v after the repair", id, off, r)
					}
				}
			}
		})
	}
}
