package cluster

import (
	"fmt"
	"time"

	"github.com/logstream/logstream/pkg/wire"
)

// A cluster gets its identity when its first broker bootstraps it: a random
// 64-bit id kept in every member's state and stamped on every message (Tag).
// View numbers and log epochs are only ever compared between brokers of one
// identity, so two clusters that formed apart — brokers started at the same
// moment that missed each other, a broker with a new disk that started alone
// — can never take each other's logs for their own. When two clusters meet
// (a foreign leader's heartbeat, a foreign join), only a side that holds no
// records gives itself up and joins the other; a side that holds records is
// never merged away: both keep serving and say so (onForeignLeader).

// randomClusterID draws a non-zero identity.
func randomClusterID() uint64 {
	for {
		if id := wire.RandomID(); id != 0 {
			return id
		}
	}
}

// ClusterName renders a cluster identity for logs and status: 16 hex digits
// (a string, so JSON readers never round it), "none" before the first view.
func ClusterName(id uint64) string {
	if id == 0 {
		return "none"
	}
	return fmt.Sprintf("%016x", id)
}

// Cluster returns this node's cluster identity (0: none yet).
func (n *Node) Cluster() uint64 { return n.cluster }

// holdsRecords reports whether any topic log here ever held a record. Such a
// node never gives up its cluster for another: its logs would be cut to the
// other cluster's, losing what its own cluster acknowledged.
func (n *Node) holdsRecords() bool {
	for _, name := range n.topicNames() {
		if t := n.topic(name); t != nil && t.log.NextOffset() > 0 {
			return true
		}
	}
	return false
}

// stepForeign handles a message stamped with another cluster's identity.
// Only what concerns a meeting of the two clusters is looked at; the rest
// (elections, state exchange, records) is dropped unread — a stale address
// that now belongs to a broker of another cluster must not vote or fetch.
func (n *Node) stepForeign(now time.Time, m Message) {
	switch m := m.(type) {
	case *Heartbeat:
		if m.IsLeader {
			n.onForeignLeader(now, m)
		}
	case *BrokerJoin:
		if n.role == RoleLeader {
			// It has a cluster of its own and so, possibly, records that
			// our agreed logs would cut away: it must not join. An empty
			// broker forgets its identity before it asks (leaveCluster).
			n.warnForeign(now, m.Cluster, "refusing BROKER_JOIN from a broker of another cluster: it holds that cluster's state",
				m.From, m.Addr)
			me, _ := n.view.Member(n.id)
			n.send(m.From, &BrokerJoinResponse{From: n.id, View: n.view.Number, Leader: me, Refused: true})
		}
	case *BrokerJoinResponse:
		if m.Refused && m.From == n.joinTarget {
			n.warnForeign(now, m.Cluster, "the broker we asked to join leads another cluster and refused us; looking for our own cluster", m.From, m.Leader.Addr)
			n.joinTarget = 0
			n.NoLeader(now)
		}
	}
}

// onForeignLeader decides what a node does on hearing the leader of another
// cluster. A node that holds no records joins it if that cluster takes
// precedence over its own (it holds records, or, neither holding any, its
// leader has the higher id): brokers started together that each bootstrapped
// alone end as one cluster, and an empty cluster never keeps a LAN split in
// two. A node that holds records stays where it is and warns.
func (n *Node) onForeignLeader(now time.Time, m *Heartbeat) {
	if n.holdsRecords() {
		n.warnForeign(now, m.Cluster, "another cluster is on this network; not merging with it: this broker holds records of its own cluster "+
			"that the other does not (both keep serving; see README, Cluster lifecycle)", m.From, m.Addr)
		return
	}
	ourHolds, ourLeader := false, NodeID(0)
	switch {
	case n.role == RoleLeader:
		ourLeader = n.id
	case n.installed && n.member && n.view.Leader != 0:
		ourHolds, ourLeader = n.leaderHolds, n.view.Leader
	}
	if ourHolds && !m.Holds || (ourHolds == m.Holds && ourLeader > m.From) {
		return // ours takes precedence: the other side's empty brokers come to us
	}
	n.log.Info().Str("other_cluster", ClusterName(m.Cluster)).Str("other_leader", IDString(m.From)).Str("addr", m.Addr).
		Str("cluster", ClusterName(n.cluster)).Msg("another cluster takes precedence and this broker holds no records: leaving ours to join it")
	n.leaveCluster()
	n.askToJoin(now, m.From, m.Addr)
}

// leaveCluster forgets our cluster: identity, views, promises. Only for a
// node that holds no records, which therefore loses nothing.
func (n *Node) leaveCluster() {
	n.cluster = 0
	n.view = View{}
	n.installed = false // (becomeJoining below fails what is pending and clears member)
	n.promised, n.promisedTo, n.active, n.seen = 0, 0, 0, 0
	n.assign = map[string]TopicAssign{}
	n.ring = newHashRing(nil, n.cfg.VirtualNodes)
	n.rec, n.lastInstall = nil, nil
	clear(n.joiners)
	n.resetElection()
	n.leaderHolds = false
	for _, t := range n.topics {
		t.view = 0
		t.synced, t.syncing = false, false
	}
	n.becomeJoining()
	n.saveState()
}

// warnForeign logs one line about another cluster at most once per broker
// timeout per cluster, however often its messages arrive.
func (n *Node) warnForeign(now time.Time, cluster uint64, msg string, who NodeID, addr string) {
	if at, ok := n.foreignAt[cluster]; ok && now.Sub(at) < n.cfg.BrokerTimeout {
		return
	}
	n.foreignAt[cluster] = now
	n.log.Warn().Str("cluster", ClusterName(n.cluster)).Str("other_cluster", ClusterName(cluster)).
		Str("other", Display(who, "", addr)).Str("other_id", IDString(who)).Msg(msg)
}

// NoLeader tells the node that no broker of its cluster knows a leader:
// discovery found brokers but none named one, or the broker it asked to
// join refused it. A node that remembers a view starts an ELECTION over it
// at once — when every broker restarted, each waiting for someone else's
// election would wait for ever. A fresh node has nothing to elect over; the
// runtime bootstraps it or keeps looking.
func (n *Node) NoLeader(now time.Time) {
	n.now = now
	if n.view.Number == 0 || (n.installed && n.member) || n.role == RoleCandidate || n.rec != nil {
		return
	}
	n.log.Info().Uint64("view", n.view.Number).Str("cluster", ClusterName(n.cluster)).
		Msg("no leader of our cluster answered: ELECTION over the last view")
	n.startElection(now)
}
