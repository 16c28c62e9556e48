package cluster

import "time"

// StartAction is what a node that is not (yet) a member of a view does with
// one round of discovery.
type StartAction int

const (
	StartWait      StartAction = iota // look again shortly
	StartJoin                         // a leader answered: ask it to add us
	StartBootstrap                    // found nobody (or we win among fresh brokers): lead a cluster of our own, or recover our last view
	StartElect                        // our cluster is restarting with no leader: elect over our last view
)

func (a StartAction) String() string {
	return [...]string{"wait", "join", "bootstrap", "elect"}[a]
}

// Heard is the outcome of one round of discovery.
type Heard int

const (
	HeardError    Heard = iota // discovery failed (a socket error, two leaders answering)
	HeardLeader                // a leader answered
	HeardNobody                // nobody answered
	HeardNoLeader              // brokers answered, none naming a leader: Found.Peers
)

// Found is what one round of discovery found, in the node's terms: the
// runtime (pkg/broker) turns its broadcast answers into it, the simulation
// its simulated network.
type Found struct {
	Heard Heard
	Peers []FoundPeer // with HeardNoLeader
}

// FoundPeer is a broker that answered without naming a leader: its id (0 if
// it sent none we can read) and the last view it remembers (0: fresh).
type FoundPeer struct {
	ID   NodeID
	View uint64
}

// DecideStart is the start rule, pure so that every combination is
// table-tested and the simulation runs the rule brokers run:
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
//     restarting; wait for its leader;
//   - discovery failed: look again.
func DecideStart(self NodeID, remembers bool, f Found) StartAction {
	switch f.Heard {
	case HeardLeader:
		return StartJoin
	case HeardNobody:
		return StartBootstrap
	case HeardNoLeader:
	default:
		return StartWait
	}
	if remembers {
		return StartElect
	}
	for _, p := range f.Peers {
		if p.View != 0 || p.ID > self {
			return StartWait
		}
	}
	return StartBootstrap
}

// StartPause is how long a starting broker lets what it did after its
// attempt-th round of discovery (from 0) take effect before looking again:
// a growing pause while it only waits, at least a failure timeout after it
// started something (a join, an election, a recovery).
func StartPause(attempt int, act StartAction, failureTimeout time.Duration) time.Duration {
	wait := min(time.Duration(attempt+1)*500*time.Millisecond, 5*time.Second)
	if act != StartWait {
		wait = max(wait, failureTimeout)
	}
	return wait
}
