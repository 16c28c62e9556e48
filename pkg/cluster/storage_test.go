package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// observe records, besides the acks, what each node's Readies sent (after
// the runtime withheld the messages of a Ready whose writes failed) and the
// fatal errors.
type observed struct {
	sent  map[NodeID][]Message
	fatal map[NodeID]error
}

func (c *cluster) observe() *observed {
	o := &observed{sent: map[NodeID][]Message{}, fatal: map[NodeID]error{}}
	c.s.onReady = func(sn *simNode, rd Ready) {
		for _, a := range rd.Acks {
			c.acks[a.Token] = a
		}
		for _, e := range rd.Messages {
			o.sent[sn.id] = append(o.sent[sn.id], e.Msg)
		}
		if rd.Fatal != nil {
			o.fatal[sn.id] = rd.Fatal
		}
	}
	return o
}

// The storage rule: an append that failed cleanly (a full disk) is refused
// to the producer and the broker carries on; one of uncertain outcome, or
// any failed write the protocol's promises rest on, stops the node — it
// answers nothing more and Ready says why, once.
func TestStorageRule(t *testing.T) {
	setup := func(t *testing.T) (*cluster, *simNode, *memLog, *observed) {
		c := newCluster(t, 1)
		o := c.observe()
		c.commitSome(1, 2)
		sn := c.s.nodes[1]
		return c, sn, sn.store.topics["logs"], o
	}
	t.Run("clean append failure", func(t *testing.T) {
		c, sn, l, o := setup(t)
		full := errors.New("no space left on device")
		l.failWrites = full
		next := l.NextOffset()
		if err := c.produce(1, 7, 3); err != nil {
			t.Fatalf("Propose: %v (the write is the runtime's: refused by the ack)", err)
		}
		if a, ok := c.acks[7]; !ok || !errors.Is(a.Err, full) {
			t.Fatalf("ack %+v (given: %v), want a refusal with the disk's error", a, ok)
		}
		if o.fatal[1] != nil || sn.node.stopped != nil {
			t.Fatalf("a clean failure stopped the node: %v", o.fatal[1])
		}
		if got := sn.node.topics["logs"].log.NextOffset(); got != next {
			t.Fatalf("the node's log ends at %d after the failed append, the store's at %d", got, next)
		}
		// Space is back: the retry is taken as new records (the producer
		// table was rolled back too), at the offset the failed one had.
		l.failWrites = nil
		c.commitSomeVia(1, 3, 1)
		if a := c.acks[1003]; a.Duplicates != 0 || a.BaseOffset != next {
			t.Fatalf("retry acknowledged as %+v, want new records at offset %d", a, next)
		}
		if l.NextOffset() != next+1 || l.at(next).Seq != 3 {
			t.Fatalf("store holds [%d, %d), want seq 3 at %d", l.StartOffset(), l.NextOffset(), next)
		}
	})
	t.Run("uncertain append", func(t *testing.T) {
		c, sn, l, o := setup(t)
		l.failWrites = fmt.Errorf("%w: fsync: input/output error", ErrStorageUncertain)
		_ = c.produce(1, 7, 3)
		if !errors.Is(o.fatal[1], ErrStorageUncertain) {
			t.Fatalf("Ready.Fatal = %v, want the uncertain write", o.fatal[1])
		}
		if c.acked(7) {
			t.Fatal("a record whose write is uncertain was acknowledged")
		}
		l.failWrites = nil
		delete(o.sent, 1)
		sn.node.Tick(c.s.now.Add(time.Second))
		c.s.flush(sn)
		if len(o.sent[1]) > 0 {
			t.Fatalf("a stopped node still answers: %v", o.sent[1])
		}
	})
	t.Run("promise write", func(t *testing.T) {
		c, sn, _, o := setup(t)
		sn.store.topics[StateTopic].failWrites = errors.New("disk full")
		sn.node.StartElection(c.s.now) // a new promise must be persisted
		c.s.flush(sn)
		if o.fatal[1] == nil {
			t.Fatal("a promise that could not be persisted did not stop the node")
		}
	})
}

// A member whose promise (its answer to STATE_EXCHANGE) cannot be persisted
// must not send the answer: the new leader would count a promise that a
// restart forgets. It stops instead.
func TestPromiseWriteFailureSendsNoPromise(t *testing.T) {
	c := newCluster(t, 3)
	o := c.observe()
	c.commitSome(1, 2)
	c.s.nodes[2].store.topics[StateTopic].failWrites = errors.New("disk full")
	c.s.nodes[1].node.StartElection(c.s.now)
	c.s.flush(c.s.nodes[1])
	c.waitFor("node 2 stopped", 3*time.Second, func() bool { return o.fatal[2] != nil })
	for _, m := range o.sent[2] {
		if r, ok := m.(*StateExchangeResponse); ok && r.OK {
			t.Fatalf("node 2 answered STATE_EXCHANGE %d although its promise was not persisted", r.Proposal)
		}
	}
	c.waitFor("nodes 1 and 3 recovered without it", 5*time.Second, func() bool {
		return c.s.nodes[1].node.canCommit() && c.s.nodes[3].node.canCommit()
	})
}

// A follower whose replica write fails cleanly acknowledges nothing of it
// (its REPLICATE_ACK sat in the Ready the failure withheld), so with both
// followers failing the owner cannot count a majority and acknowledges
// nothing; once space is back the followers fetch what they missed and the
// batch commits.
func TestFollowerReplicaWriteFailure(t *testing.T) {
	c := newCluster(t, 3)
	o := c.observe()
	c.commitSome(1, 2)
	owner, _ := c.s.nodes[1].node.Owner("logs")
	var followers []NodeID
	for _, id := range c.s.ids {
		if id != owner.ID {
			followers = append(followers, id)
		}
	}
	ends := map[NodeID]uint64{}
	full := errors.New("no space left on device")
	for _, id := range followers {
		l := c.s.nodes[id].store.topics["logs"]
		ends[id] = l.NextOffset()
		l.failWrites = full
	}
	committed := c.s.nodes[owner.ID].node.Committed("logs")
	if err := c.produce(owner.ID, 7, 3); err != nil {
		t.Fatal(err)
	}
	for range 100 { // 1 s: REPLICATE, FETCH retries, tail announcements
		c.s.step(10 * time.Millisecond)
	}
	for _, id := range followers {
		for _, m := range o.sent[id] {
			if a, ok := m.(*ReplicateAck); ok && a.End > ends[id] {
				t.Fatalf("node %d acknowledged offset %d, which it failed to write", id, a.End-1)
			}
		}
		if o.fatal[id] != nil {
			t.Fatalf("a clean replica-write failure stopped node %d: %v", id, o.fatal[id])
		}
	}
	if c.acked(7) || c.s.nodes[owner.ID].node.Committed("logs") != committed {
		t.Fatal("the batch committed although no follower stored it")
	}
	for _, id := range followers {
		c.s.nodes[id].store.topics["logs"].failWrites = nil
	}
	// (The producer was told ErrNoQuorum after FailureTimeout; the record
	// stays in the owner's log and commits with the followers' copies.)
	for _, id := range c.s.ids {
		c.waitFor(fmt.Sprintf("node %d committed seqs 1-3", id), 3*time.Second, func() bool { return c.holdsAll(id, []uint64{1, 2, 3}) == nil })
	}
}

// The node never writes to storage itself: the simulation's logs panic on a
// write made outside the runtime's ApplyWrites, through commits, a leader
// change and a recovery that truncates a diverged log.
func TestNodeNeverWritesItself(t *testing.T) {
	c := newCluster(t, 3)
	c.commitSome(1, 5)
	c.s.crash(1)
	c.waitFor("nodes 2 and 3 took over", 5*time.Second, func() bool {
		return c.s.nodes[2].node.canCommit() && c.s.nodes[3].node.canCommit() && c.leader(2) != 1
	})
	c.commitSome(6, 3)
	c.s.restart(1)
	c.waitFor("node 1 back", 5*time.Second, func() bool { return c.oneView(1, 2, 3) })
	c.commitSome(9, 2)
	for _, id := range c.s.ids {
		if c.s.nodes[id].store.applied == 0 {
			t.Fatalf("node %d's store saw no write through ApplyWrites", id)
		}
	}
}

// ApplyWrites makes writes in order; after a clean failure it skips that
// topic's later writes only, after a fatal one every later write.
func TestApplyWritesOrderAndSkips(t *testing.T) {
	s := newMemStore()
	nd := &Node{}
	open := func(name string) *stagedLog {
		l, _ := s.Topic(name)
		return nd.stagedLog(l, name)
	}
	a, b, st := open("a"), open("b"), open(StateTopic)
	rec := func(off uint64) []record.Record { return []record.Record{{Offset: off, Payload: []byte("x")}} }
	full := errors.New("disk full")
	s.topics["a"].failWrites = full
	ws := []Write{
		{Op: WriteAppendAt, Records: rec(0), log: a},
		{Op: WriteAppendAt, Records: rec(0), log: b},
		{Op: WriteMeta, Meta: []byte("E"), log: a},
		{Op: WriteMeta, Meta: []byte("C"), log: st},
		{Op: WriteAppendAt, Records: rec(1), log: b},
	}
	errs := s.apply(ws)
	want := []error{full, nil, ErrWriteSkipped, nil, nil}
	for i := range ws {
		if !errors.Is(errs[i], want[i]) || (want[i] == nil) != (errs[i] == nil) {
			t.Errorf("write %d (%s of %s): %v, want %v", i, ws[i].Op, ws[i].log.name, errs[i], want[i])
		}
	}
	if s.topics["b"].NextOffset() != 2 || string(s.topics[StateTopic].meta) != "C" {
		t.Error("writes of other topics were not made")
	}
	s.topics["a"].failWrites = nil
	s.topics[StateTopic].failWrites = full
	ws = []Write{
		{Op: WriteMeta, Meta: []byte("C2"), log: st},
		{Op: WriteAppendAt, Records: rec(2), log: b},
	}
	if errs := s.apply(ws); !errors.Is(errs[0], full) || !errors.Is(errs[1], ErrWriteSkipped) {
		t.Errorf("after a failed promise write: %v, want every later write skipped", errs)
	}
	if s.apply(nil) != nil {
		t.Error("no writes: want nil")
	}
}

// A member catching up counts as holding the view's agreed log — what its
// heartbeats tell the leader and what a leader counts of itself to activate
// the view — only once the records and the label that says so are written:
// never while they are staged, and not at all while its disk is full.
func TestCatchUpCountsOnlyWhenWritten(t *testing.T) {
	c := newCluster(t, 3)
	c.commitSome(1, 3)
	lag := c.s.ids[2]
	c.s.crash(lag)
	c.commitSome(4, 20)
	sn := c.s.nodes[lag]
	sn.store.full = errors.New("no space left on device")
	claimed := false
	c.s.afterStep = func(s *simNode) {
		if s == sn && s.store.full != nil && s.node.allSynced() {
			claimed = true
		}
	}
	c.s.restart(lag)
	c.waitFor("the lagging node installed a view", 3*time.Second, func() bool { return sn.node.installed && sn.node.member })
	for range 100 { // 1 s of catch-up attempts on a full disk
		c.s.step(10 * time.Millisecond)
	}
	if sn.store.refused == 0 {
		t.Fatal("the lagging node wrote nothing: the test did not exercise a failed catch-up")
	}
	if claimed {
		t.Fatal("the lagging node counted itself synced while its catch-up could not be written")
	}
	sn.store.full = nil
	c.waitFor("caught up once space is back", 3*time.Second, func() bool { return sn.node.allSynced() && c.oneView(c.s.ids...) })
	if err := c.holdsAll(lag, c.seqs(1, 23)); err != nil {
		t.Fatal(err)
	}
}
