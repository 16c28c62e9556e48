package broker

import (
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
)

// watchedDetector is the node's cluster.PhiDetector (the one the simulation
// runs too) plus the last judgement of each peer, for monitors: the
// detector itself is loop-owned, the judgements are read by Snapshot from
// any goroutine.
type watchedDetector struct {
	*cluster.PhiDetector

	mu   sync.Mutex
	last map[cluster.NodeID]judgement
}

// judgement is a peer's silence and phi when the node last judged it.
type judgement struct {
	age time.Duration
	phi float64
}

func newWatchedDetector(d *cluster.PhiDetector) *watchedDetector {
	return &watchedDetector{PhiDetector: d, last: map[cluster.NodeID]judgement{}}
}

// judged returns a copy of the last judgement of every peer still judged.
func (d *watchedDetector) judged() map[cluster.NodeID]judgement {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[cluster.NodeID]judgement, len(d.last))
	for id, j := range d.last {
		out[id] = j
	}
	return out
}

// Status judges id as the PhiDetector does and keeps what the verdict
// rested on. Judged once per peer per tick (node.Status): cheap enough.
func (d *watchedDetector) Status(id cluster.NodeID, now time.Time) cluster.Liveness {
	l, age, phi, ok := d.Judge(id, now)
	if ok {
		d.mu.Lock()
		d.last[id] = judgement{age: age, phi: phi}
		d.mu.Unlock()
	}
	return l
}
