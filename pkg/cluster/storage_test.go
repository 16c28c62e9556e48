package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// The storage rule: an append that failed cleanly (a full disk) is refused
// to the producer and the broker carries on; one of uncertain outcome, or
// any failed write the protocol's promises rest on, stops the node — it
// answers nothing more and Ready says why, once.
func TestStorageRule(t *testing.T) {
	setup := func(t *testing.T) (*cluster, *simNode, *memLog) {
		c := newCluster(t, 1)
		c.commitSome(1, 2)
		sn := c.s.nodes[1]
		return c, sn, sn.store.topics["logs"]
	}
	propose := func(c *cluster, sn *simNode, tok uint64) error {
		return sn.node.Propose(c.s.now, "logs", []record.Record{{ProducerID: "p", Seq: 3, Payload: []byte("x")}}, tok)
	}
	t.Run("clean append failure", func(t *testing.T) {
		c, sn, l := setup(t)
		full := errors.New("no space left on device")
		l.failWrites = full
		if err := propose(c, sn, 7); !errors.Is(err, full) {
			t.Fatalf("Propose: %v, want the disk's error", err)
		}
		if rd := sn.node.Ready(); rd.Fatal != nil {
			t.Fatalf("a clean failure stopped the node: %v", rd.Fatal)
		}
		l.failWrites = nil
		c.commitSomeVia(1, 3, 1) // space is back: the retry is taken
	})
	t.Run("uncertain append", func(t *testing.T) {
		c, sn, l := setup(t)
		l.failWrites = fmt.Errorf("%w: fsync: input/output error", ErrStorageUncertain)
		if err := propose(c, sn, 7); err == nil {
			t.Fatal("Propose succeeded")
		}
		rd := sn.node.Ready()
		if !errors.Is(rd.Fatal, ErrStorageUncertain) {
			t.Fatalf("Ready.Fatal = %v, want the uncertain write", rd.Fatal)
		}
		l.failWrites = nil
		sn.node.Tick(c.s.now.Add(time.Second))
		if rd := sn.node.Ready(); len(rd.Messages) > 0 || rd.Fatal != nil {
			t.Fatalf("a stopped node still answers: %+v", rd)
		}
	})
	t.Run("promise write", func(t *testing.T) {
		c, sn, _ := setup(t)
		sn.store.topics[StateTopic].failWrites = errors.New("disk full")
		sn.node.StartElection(c.s.now) // a new promise must be persisted
		if rd := sn.node.Ready(); rd.Fatal == nil {
			t.Fatal("a promise that could not be persisted did not stop the node")
		}
	})
}
