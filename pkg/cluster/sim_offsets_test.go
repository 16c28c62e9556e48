package cluster

import (
	"flag"
	"testing"
)

var simOffsetsSeeds = flag.Int("sim.offsets.seeds", 40, "number of simulation seeds TestSimOffsets runs")

// simOffsets makes the simulation's first topic the offsets topic.
var simOffsets bool

// simTopicList is the topics of a simulation run: TestSim's, or for
// TestSimOffsets the same with OffsetsTopic first.
func simTopicList(seed uint64) []string {
	ts := []string{"logs", "metrics", "sensors"}[:2+int(seed%2)]
	if simOffsets {
		ts[0] = OffsetsTopic
	}
	return ts
}

// TestSimOffsets runs the simulation with consumer groups' positions as one
// of the topics: positions are records of OffsetsTopic written through
// Propose, so the checker's guarantees hold for them under every fault it
// injects — no acknowledged position lost (finalCheck: every acknowledged
// record is in the one committed sequence, held by every member), no two
// members disagreeing on one, the topic carried through STATE_EXCHANGE and
// recovery like any other (it is not one of the node's local "__" topics).
func TestSimOffsets(t *testing.T) {
	simOffsets = true
	defer func() { simOffsets = false }()
	var total simStats
	failed := 0
	for seed := uint64(1); seed <= uint64(*simOffsetsSeeds); seed++ {
		st, err := runSim(seed, *simLog)
		total.add(st)
		if err != nil {
			failed++
			t.Errorf("seed %d: %v", seed, err)
			if failed >= 5 {
				t.Fatalf("stopping after %d failing seeds", failed)
			}
		}
	}
	if total.AckedRecords == 0 {
		t.Fatal("no position was acknowledged")
	}
	t.Logf("%d seeds: %+v", *simOffsetsSeeds, total)
}

// TestOffsetsTopicIsReplicated: the node opens and lists the offsets topic
// like a client topic, and keeps every other "__" name to itself.
func TestOffsetsTopicIsReplicated(t *testing.T) {
	if localTopic(OffsetsTopic) || !localTopic(StateTopic) || !localTopic("__other") || localTopic("logs") {
		t.Fatal("localTopic disagrees with the reserved names")
	}
}
