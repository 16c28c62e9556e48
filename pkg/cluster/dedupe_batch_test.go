package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// proposeRecs proposes records of several producers ("A3" is producer A's
// Seq 3) on the topic's owner.
func (c *cluster) proposeRecs(token uint64, ids ...string) error {
	var recs []record.Record
	for _, id := range ids {
		var q uint64
		fmt.Sscanf(id[1:], "%d", &q)
		recs = append(recs, record.Record{ProducerID: id[:1], Seq: q, Payload: []byte(id)})
	}
	owner, _ := c.s.nodes[1].node.Owner("logs")
	nd := c.s.nodes[owner.ID]
	err := nd.node.Propose(c.s.now, "logs", recs, token)
	c.s.flush(nd)
	return err
}

// Batches mixing producers, runs of one and resends: each (producer, Seq) is
// stored once, duplicates are counted per producer, and a gap in one
// producer's numbers is refused while another's go on. (propose keeps one
// producer's state aside and looks the others up: this holds it to the
// per-record rules.)
func TestBatchOfSeveralProducersDeduplicates(t *testing.T) {
	c := newCluster(t, 3)
	steps := []struct {
		ids  []string
		dups uint32
		err  error
	}{
		{[]string{"A1", "B1", "A2", "B2", "A3"}, 0, nil},
		{[]string{"A2", "B2", "B3", "A3", "A4"}, 3, nil},
		{[]string{"B4", "A5", "A4", "B4"}, 2, nil},
		{[]string{"B5", "A7"}, 0, ErrOutOfOrder},
		{[]string{"B5", "B6", "A6", "C1", "C2", "A7"}, 0, nil},
	}
	for i, st := range steps {
		tok := uint64(i + 1)
		err := c.proposeRecs(tok, st.ids...)
		if !errors.Is(err, st.err) {
			t.Fatalf("batch %d %v: got %v, want %v", tok, st.ids, err, st.err)
		}
		if err != nil {
			continue
		}
		c.waitFor(fmt.Sprintf("batch %d committed", tok), 5*time.Second, func() bool { return c.acked(tok) })
		if a := c.acks[tok]; a.Duplicates != st.dups {
			t.Fatalf("batch %d %v: %d duplicates, want %d", tok, st.ids, a.Duplicates, st.dups)
		}
	}
	owner, _ := c.s.nodes[1].node.Owner("logs")
	log, _ := c.s.nodes[owner.ID].node.cfg.Store.Topic("logs")
	recs, err := log.Read(0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Payload))
	}
	want := []string{"A1", "B1", "A2", "B2", "A3", "B3", "A4", "B4", "A5", "B5", "B6", "A6", "C1", "C2", "A7"}
	if !slices.Equal(got, want) {
		t.Fatalf("log holds %v, want %v", got, want)
	}
	table := c.s.nodes[owner.ID].node.topics["logs"].dedupe
	for id, seq := range map[string]uint64{"A": 7, "B": 6, "C": 2} {
		if table[id].seq != seq {
			t.Errorf("producer table: %s at Seq %d, want %d", id, table[id].seq, seq)
		}
	}
}

// A batch without duplicates is taken as it is, not copied: the node sets
// the caller's records' offsets (Propose's contract), and commits them. A
// batch with one keeps the caller's records as they were.
func TestProposeTakesBatchAsIs(t *testing.T) {
	c := newCluster(t, 3)
	if err := c.proposeRecs(1, "A1", "A2"); err != nil {
		t.Fatal(err)
	}
	c.waitFor("batch 1 committed", 5*time.Second, func() bool { return c.acked(1) })
	owner, _ := c.s.nodes[1].node.Owner("logs")
	nd := c.s.nodes[owner.ID]
	recs := []record.Record{{ProducerID: "A", Seq: 3}, {ProducerID: "A", Seq: 4}}
	if err := nd.node.Propose(c.s.now, "logs", recs, 2); err != nil {
		t.Fatal(err)
	}
	if recs[0].Offset != 2 || recs[1].Offset != 3 {
		t.Fatalf("caller's records at offsets %d, %d: the batch was copied (want 2, 3)", recs[0].Offset, recs[1].Offset)
	}
	c.s.flush(nd)
	c.waitFor("batch 2 committed", 5*time.Second, func() bool { return c.acked(2) })
	mixed := []record.Record{{ProducerID: "A", Seq: 5}, {ProducerID: "A", Seq: 4}, {ProducerID: "A", Seq: 6}}
	if err := nd.node.Propose(c.s.now, "logs", mixed, 3); err != nil {
		t.Fatal(err)
	}
	for i, r := range mixed {
		if r.Offset != 0 {
			t.Errorf("record %d of a batch with a duplicate: offset set to %d in the caller's slice", i, r.Offset)
		}
	}
	c.s.flush(nd)
	c.waitFor("batch 3 committed", 5*time.Second, func() bool { return c.acked(3) })
	if a := c.acks[3]; a.Duplicates != 1 || a.BaseOffset != 4 {
		t.Fatalf("batch 3: %d duplicates at base %d, want 1 at 4", a.Duplicates, a.BaseOffset)
	}
}

// firstSeqs names each producer once, at its first numbered record, however
// the producers' runs interleave.
func TestFirstSeqs(t *testing.T) {
	recs := []record.Record{{ProducerID: "A", Seq: 1}, {ProducerID: "A", Seq: 2}, {ProducerID: "B", Seq: 5},
		{ProducerID: "A", Seq: 3}, {ProducerID: "C", Seq: 0}, {ProducerID: "C", Seq: 4}, {ProducerID: "B", Seq: 6}}
	want := []producerSeq{{"A", 1}, {"B", 5}, {"C", 4}}
	if got := firstSeqs(recs); !slices.Equal(got, want) {
		t.Fatalf("firstSeqs = %v, want %v", got, want)
	}
}
