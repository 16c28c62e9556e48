package cluster

import (
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// A commit announcement followed, in the same Ready, by a REPLICATE of the
// same topic and view with a commit at least as high is dropped; one that
// tells more (a higher commit, another topic, another view, a unicast
// message) stays, and the order of what stays is kept.
func TestDropCoveredAnnouncements(t *testing.T) {
	recs := []record.Record{{Offset: 10, ProducerID: "p", Seq: 1}}
	ann := func(topic string, view, first, commit uint64) Envelope {
		return Envelope{Msg: &Replicate{From: 1, View: view, Topic: topic, First: first, Commit: commit}}
	}
	batch := func(topic string, view, commit uint64) Envelope {
		return Envelope{Msg: &Replicate{From: 1, View: view, Topic: topic, First: 10, Commit: commit, Records: recs}}
	}
	ack := Envelope{To: 2, Msg: &ReplicateAck{From: 1, View: 3, Topic: "a", End: 5}}
	msgs := []Envelope{
		ann("a", 3, 10, 8),  // 0: covered by 3 (commit 9 >= 8): dropped
		ann("b", 3, 4, 4),   // 1: no later REPLICATE of b: kept
		ack,                 // 2: not a REPLICATE: kept
		ann("a", 3, 10, 9),  // 3: covered by 5: dropped
		ann("a", 4, 10, 9),  // 4: another view: kept
		batch("a", 3, 9),    // 5: records: kept
		ann("a", 3, 11, 11), // 6: a higher commit than anything after: kept
		{To: 2, Msg: &Replicate{From: 1, View: 3, Topic: "b", First: 4, Commit: 4}}, // 7: unicast: kept
	}
	want := []Message{msgs[1].Msg, msgs[2].Msg, msgs[4].Msg, msgs[5].Msg, msgs[6].Msg, msgs[7].Msg}
	got := dropCoveredAnnouncements(msgs)
	if len(got) != len(want) {
		t.Fatalf("kept %d messages, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Msg != want[i] {
			t.Errorf("message %d: %#v, want %#v", i, got[i].Msg, want[i])
		}
	}
	one := []Envelope{ann("a", 3, 10, 8)}
	if got := dropCoveredAnnouncements(one); len(got) != 1 {
		t.Errorf("a lone announcement dropped")
	}
}

// The owner tells its followers a new commit lazily: the Ready that
// acknowledges a batch carries no commit announcement (one per commit was
// as many messages as batches, each answered by every follower); the
// topic's next REPLICATE carries the commit, and with none coming the next
// tick announces it, so every follower still learns it.
func TestCommitAnnouncedLazily(t *testing.T) {
	c := newCluster(t, 3)
	if err := c.produce(1, 1, 1); err != nil {
		t.Fatal(err)
	}
	c.waitFor("batch 1 committed", 5*time.Second, func() bool { return c.acked(1) })
	owner, _ := c.s.nodes[1].node.Owner("logs")

	type sent struct {
		ackInReady  bool   // the owner's Ready also acknowledged a batch
		first, comm uint64 // the announcement's tail and commit
	}
	var anns []sent
	followerCommit := map[NodeID]uint64{}
	c.s.onReady = func(sn *simNode, rd Ready) {
		for _, a := range rd.Acks {
			c.acks[a.Token] = a
		}
		for _, tc := range rd.Committed {
			if sn.id != owner.ID && tc.Topic == "logs" {
				followerCommit[sn.id] = tc.Committed
			}
		}
		if sn.id != owner.ID {
			return
		}
		for _, e := range rd.Messages {
			if r, ok := e.Msg.(*Replicate); ok && e.To == 0 && len(r.Records) == 0 && r.Topic == "logs" {
				anns = append(anns, sent{ackInReady: len(rd.Acks) > 0, first: r.First, comm: r.Commit})
			}
		}
	}
	if err := c.produce(1, 2, 2); err != nil {
		t.Fatal(err)
	}
	c.waitFor("batch 2 committed", 5*time.Second, func() bool { return c.acked(2) })
	for _, a := range anns {
		if a.ackInReady {
			t.Fatalf("commit announced in the Ready that acknowledged the batch: %+v", anns)
		}
	}
	c.waitFor("every follower knows commit 2", 5*time.Second, func() bool {
		for _, id := range c.s.ids {
			if id != owner.ID && followerCommit[id] < 2 {
				return false
			}
		}
		return true
	})
	if len(anns) == 0 {
		t.Fatal("the followers learnt the commit without an announcement: nothing else was sent")
	}
}
