package cluster

import (
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// BenchmarkCommit measures the state machines' cost of committing one batch
// of 10 records in a 3-node cluster: Propose, REPLICATE encode/decode on two
// followers, acks, commit, all on the simulated network (no real I/O).
func BenchmarkCommit(b *testing.B) {
	c := &cluster{t: &testing.T{}, s: newSimnet(1, 3, nil), acks: map[uint64]Ack{}}
	c.s.onReady = func(_ *simNode, rd Ready) {
		for _, a := range rd.Acks {
			c.acks[a.Token] = a
		}
	}
	c.s.minDelay, c.s.maxDelay = 0, 0
	c.s.nodes[1].node.Bootstrap(c.s.now)
	c.s.flush(c.s.nodes[1])
	for _, id := range c.s.ids[1:] {
		c.s.join(id, 1)
		c.s.flush(c.s.nodes[id])
	}
	for range 100 {
		c.s.step(10 * time.Millisecond)
	}
	owner, _ := c.s.nodes[1].node.Owner("bench")
	nd := c.s.nodes[owner.ID]
	recs := make([]record.Record, 10)
	seq := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range recs {
			seq++
			recs[j] = record.Record{ProducerID: "p", Seq: seq, Payload: make([]byte, 100)}
		}
		if err := nd.node.Propose(c.s.now, "bench", recs, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
		c.s.flush(nd)
		for !c.acked(uint64(i + 1)) {
			c.s.step(time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
