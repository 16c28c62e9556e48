package cluster

import (
	"testing"
	"time"
)

// Scenarios for retention (MAX_RECORDS_PER_TOPIC): members that fall behind
// what the others still hold skip ahead instead of asking forever, and no
// node trims a record before a majority stores it.

// withRetention gives every node's logs a retention of max records.
func (c *cluster) withRetention(max uint64) {
	for _, sn := range c.s.nodes {
		sn.store.maxRecords = max
		for _, l := range sn.store.topics {
			l.maxRecords = max
		}
	}
}

func (c *cluster) seqs(from, n uint64) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = from + uint64(i)
	}
	return s
}

// A follower cut off while the owner commits far more than the retention
// limit comes back, is told where the owner's log starts, skips there and
// catches up; the cluster goes on committing (before the fix its FETCH was
// refused forever and no new view could activate).
func TestFollowerSkipsRecordsRemovedByRetention(t *testing.T) {
	// Long: the laggard loses the leader and comes back through a view
	// change, skipping while it catches up with the agreed log from the
	// source. Short: it stays a synced follower and skips on the owner.
	t.Run("through recovery", func(t *testing.T) { testFollowerSkips(t, 10, 5, time.Second) })
	t.Run("synced follower", func(t *testing.T) { testFollowerSkips(t, 3, 8, 0) })
}

// testFollowerSkips cuts a follower off, commits batches×size records
// without it, keeps it cut off for hold more, then heals.
func testFollowerSkips(t *testing.T, batches, size uint64, hold time.Duration) {
	c := newCluster(t, 3)
	c.withRetention(10)
	if err := c.produce(1, 1, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	c.waitFor("first batch committed", time.Second, func() bool { return c.acked(1) })
	owner, _ := c.s.nodes[1].node.Owner("logs")
	var lag NodeID
	for _, id := range c.s.ids {
		if id != owner.ID && (lag == 0 || id != c.leader(id)) {
			lag = id
		}
	}
	var rest []NodeID
	for _, id := range c.s.ids {
		if id != lag {
			rest = append(rest, id)
		}
	}
	c.s.partition([]NodeID{lag}, rest)
	seq := uint64(4)
	for tok := uint64(2); tok < 2+batches; tok++ {
		if err := c.produce(owner.ID, tok, c.seqs(seq, size)...); err != nil {
			t.Fatalf("produce %d: %v", tok, err)
		}
		seq += size
		c.waitFor("batch committed by the majority", time.Second, func() bool { return c.acked(tok) })
	}
	for end := c.s.now.Add(hold); c.s.now.Before(end); {
		c.s.step(10 * time.Millisecond)
	}
	ol := c.s.nodes[owner.ID].store.topics["logs"]
	ll := c.s.nodes[lag].store.topics["logs"]
	if ol.StartOffset() <= ll.NextOffset() {
		t.Fatalf("owner holds [%d, %d), laggard ends at %d: retention did not overtake it", ol.StartOffset(), ol.NextOffset(), ll.NextOffset())
	}
	c.s.heal()
	c.waitFor("laggard caught up in one active view", 10*time.Second, func() bool {
		return c.oneView(c.s.ids...) && c.s.nodes[lag].node.Committed("logs") == c.s.nodes[owner.ID].node.Committed("logs") &&
			c.s.nodes[lag].node.Committed("logs") >= seq-1
	})
	ol = c.s.nodes[owner.ID].store.topics["logs"]
	ll = c.s.nodes[lag].store.topics["logs"]
	if ll.resets == 0 {
		t.Fatal("laggard caught up without skipping")
	}
	for off := max(ol.StartOffset(), ll.StartOffset()); off < ll.NextOffset(); off++ {
		if ol.at(off).Seq != ll.at(off).Seq {
			t.Fatalf("offset %d: owner has seq %d, laggard %d", off, ol.at(off).Seq, ll.at(off).Seq)
		}
	}
	// And the cluster still commits.
	owner, _ = c.s.nodes[lag].node.Owner("logs")
	if err := c.produce(owner.ID, 100, seq); err != nil {
		t.Fatal(err)
	}
	c.waitFor("batch after the skip committed", time.Second, func() bool { return c.acked(100) })
}

// The owner appends a batch larger than the retention limit while its
// followers cannot hear it: retention must keep the records until a
// majority stores them, so a follower fetches them all rather than skip
// past records that only the owner ever had and then acknowledge them.
func TestRetentionKeepsUncommittedRecords(t *testing.T) {
	c := newCluster(t, 3)
	c.withRetention(5)
	if err := c.produce(1, 1, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	c.waitFor("first batch committed", time.Second, func() bool { return c.acked(1) })
	owner, _ := c.s.nodes[1].node.Owner("logs")
	var others []NodeID
	for _, id := range c.s.ids {
		if id != owner.ID {
			others = append(others, id)
		}
	}
	c.s.partition([]NodeID{owner.ID}, others)
	if err := c.produce(owner.ID, 2, c.seqs(4, 20)...); err != nil {
		t.Fatal(err)
	}
	ol := c.s.nodes[owner.ID].store.topics["logs"]
	if ol.StartOffset() > 3 {
		t.Fatalf("owner trimmed uncommitted records: holds [%d, %d) with 3 committed", ol.StartOffset(), ol.NextOffset())
	}
	c.s.step(30 * time.Millisecond) // well within the failure timeout
	c.s.heal()
	c.waitFor("large batch committed", 2*time.Second, func() bool { return c.acked(2) })
	// A majority (the owner and one follower) appended all of them; the
	// other follower may then skip what retention removed after the commit.
	stored := 0
	for _, id := range others {
		if l := c.s.nodes[id].store.topics["logs"]; l.resets == 0 && l.NextOffset() >= 23 {
			stored++
		}
	}
	if stored == 0 {
		t.Fatal("the batch committed though no follower stored it: the owner trimmed it first")
	}
	if s := c.s.nodes[owner.ID].store.topics["logs"].StartOffset(); s == 0 {
		t.Fatal("retention did not run once the records committed")
	}
}
