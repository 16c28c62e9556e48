package broker

import (
	"errors"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/discovery"
)

// startAction is what a broker that is not (yet) a member of a view does
// with one round of discovery.
type startAction int

const (
	actWait      startAction = iota // look again shortly
	actJoin                         // a leader answered: ask it to add us
	actBootstrap                    // found nobody (or we win among fresh brokers): lead a cluster of our own, or recover our last view
	actElect                        // our cluster is restarting with no leader: elect over our last view
)

func (a startAction) String() string {
	return [...]string{"wait", "join", "bootstrap", "elect"}[a]
}

// decideStart turns discovery's outcome into a startAction. It is pure so
// that every combination is table-tested:
//
//   - a leader answered: join it (a leader of another cluster refuses a
//     broker that holds state; the node then elects over its own view);
//   - nobody answered: bootstrap (a fresh broker founds a cluster; one that
//     remembers a view recovers it, which needs a majority of that view);
//   - brokers answered but none knows a leader, and we remember a view:
//     every broker restarted, so elect now — waiting for someone else's
//     election could wait for ever;
//   - we are fresh and so is everyone who answered: brokers started
//     together. Only the one with the highest id bootstraps; the others look
//     again and join it, so they do not found clusters of their own;
//   - we are fresh and some answerer remembers a view: a cluster is
//     restarting; wait for its leader.
func decideStart(self cluster.NodeID, remembers bool, res discovery.Result, err error) startAction {
	switch {
	case err == nil:
		return actJoin
	case errors.Is(err, errNoCluster):
		return actBootstrap
	case !errors.Is(err, discovery.ErrNoLeader):
		return actWait
	case remembers:
		return actElect
	}
	for _, p := range res.Peers {
		id, ok := parseID(p.ID)
		if p.View != 0 || (ok && id > self) {
			return actWait
		}
	}
	return actBootstrap
}
