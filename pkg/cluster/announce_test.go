package cluster

import (
	"testing"

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
