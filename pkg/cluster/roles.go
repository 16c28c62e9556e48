package cluster

import "time"

// Role changes happen here and only here (as etcd raft's becomeFollower,
// becomeCandidate, becomeLeader): each sets the role together with the
// per-role state that must be reset with it, so no caller can change one
// and forget the other.

// becomeLeader: we installed a view of our own making.
func (n *Node) becomeLeader(now time.Time) {
	n.role = RoleLeader
	n.installedAt = now
	n.nextHB = now // heartbeat at the next tick: followers learn the view is ours
}

// becomeFollower: we are a member of a view another broker leads — it
// installed one, or its heartbeat came back before our election got
// anywhere.
func (n *Node) becomeFollower(now time.Time) {
	n.role = RoleFollower
	n.nextHB = now
	n.joinTarget = 0
	n.resetElection() // a later round starts afresh
}

// resetElection forgets every round and the leader's failure: a view was
// installed, a leader heard again, or the cluster left.
func (n *Node) resetElection() {
	n.elec = election{skip: map[NodeID]bool{}}
	n.leaderFailed = false
}

// becomeCandidate: an election or a recovery is under way. Nothing is
// acknowledged until a view is installed, so batches waiting for a commit
// fail now (the producer resends; the owner drops what it already has).
func (n *Node) becomeCandidate() {
	if n.role != RoleCandidate {
		n.failPending(ErrFrozen)
	}
	n.role = RoleCandidate
}

// becomeJoining: no view we belong to is led by anyone — we stepped down
// for another leader, left our cluster, or a view was installed without
// us. Any leader's heartbeat or redirect now brings us in.
func (n *Node) becomeJoining() {
	n.failPending(ErrFrozen)
	n.role = RoleJoining
	n.member = false
}
