package cluster

import "time"

// Bootstrap is called when discovery found no cluster. A fresh node becomes
// the leader of a view of one. A node that remembers a larger view must not
// (it would commit alone what the others never saw), so it runs recovery over
// its last view instead, which needs a majority of it.
func (n *Node) Bootstrap(now time.Time) {
	n.now = now
	if n.installed && n.member {
		return
	}
	if n.view.Number == 0 && n.cluster == 0 {
		n.cluster = n.cfg.NewClusterID()
		n.log.Info().Str("cluster", ClusterName(n.cluster)).Msg("no cluster found: bootstrapping a new cluster")
	} else {
		n.log.Info().Uint64("view", n.view.Number).Msg("no cluster found: recovering our last view (needs a majority of it)")
	}
	n.bootstrapping = true
	n.startRecovery(now)
	n.bootstrapping = false
}

// Join asks leader to add this node (BROKER_JOIN). The request is repeated
// every FollowerHBInterval until a view including this node is installed.
func (n *Node) Join(now time.Time, leader Member) {
	n.now = now
	if leader.ID == n.id {
		n.Bootstrap(now)
		return
	}
	n.askToJoin(now, leader.ID, leader.Addr)
}

// askToJoin makes target the broker we ask to join (again every
// FollowerHBInterval, see tickJoining).
func (n *Node) askToJoin(now time.Time, target NodeID, addr string) {
	if n.joinTarget != target {
		n.joinTarget, n.joinSince = target, now
	}
	if addr != "" {
		n.joinAddr = addr
	}
	n.sendJoin(now, target)
}

func (n *Node) sendJoin(now time.Time, to NodeID) {
	n.nextJoin = now.Add(n.cfg.FollowerHBInterval)
	n.send(to, &BrokerJoin{From: n.id, View: n.view.Number, Promised: n.promised, PromisedTo: n.promisedTo, Addr: n.cfg.Addr})
}

func (n *Node) heartbeat(isLeader bool) *Heartbeat {
	hb := &Heartbeat{From: n.id, View: n.view.Number, Leader: n.view.Leader, IsLeader: isLeader,
		Active: n.active == n.view.Number, Synced: n.allSynced(), Addr: n.cfg.Addr}
	if isLeader {
		hb.Holds = n.holdsRecords()
	}
	return hb
}

// allSynced reports whether this node holds the agreed log of every topic of
// its view. Only then does its install count towards activation: a view
// must not commit before a majority of it holds everything committed before.
func (n *Node) allSynced() bool {
	if !n.installed || !n.member {
		return false
	}
	for _, t := range n.topics {
		if t.view == n.view.Number && !t.synced {
			return false
		}
	}
	for name := range n.assign {
		if t := n.topics[name]; t == nil || t.view != n.view.Number {
			return false
		}
	}
	return true
}

func (n *Node) tickLeader(now time.Time) {
	if !now.Before(n.nextHB) {
		n.nextHB = now.Add(n.cfg.BrokerHBInterval)
		n.log.Debug().Uint64("view", n.view.Number).Msg("HEARTBEAT sent to followers")
		n.multicast(n.heartbeat(true))
	}
	if n.active != n.view.Number {
		// Not yet active: re-send the install to members that did not confirm,
		// and give up (new election) if a majority never does.
		for _, id := range n.view.IDs() {
			if !n.installAcks[id] && now.Sub(n.resent[id]) >= n.cfg.BrokerHBInterval && n.lastInstall != nil {
				n.resent[id] = now
				n.send(id, n.lastInstall)
			}
		}
		if now.Sub(n.installedAt) >= 2*n.cfg.FailureTimeout {
			n.log.Info().Uint64("view", n.view.Number).Msg("view not confirmed by a majority: new ELECTION")
			n.startElection(now)
		}
		return
	}
	// A leader that cannot hear a majority steps down: it may be on the
	// minority side of a partition, where it must not keep acknowledging.
	if !n.hearsMajority(now) {
		n.log.Info().Uint64("view", n.view.Number).Msg("leader lost contact with a majority: stepping down, new ELECTION")
		n.startElection(now)
		return
	}
	change := len(n.joiners) > 0
	for _, id := range n.view.IDs() {
		if id == n.id {
			continue
		}
		switch {
		case n.isUnreachable(id) || now.Sub(n.lastHeard[id]) >= n.cfg.BrokerTimeout:
			n.log.Info().Str("peer", n.who(id)).Dur("silent_for", now.Sub(n.lastHeard[id])).
				Msgf("broker timed out (after %v of silence): removing it from the view", now.Sub(n.lastHeard[id]).Round(time.Millisecond))
			n.detected(now, id, n.partOf(id), "timed out")
			change = true
		case n.det.Status(id, now) == Failed && n.holdsUp(id):
			// Its producers and consumers are redirected to it and stall:
			// a new view moves its topics now, while it stays a member
			// until the broker timeout (see finishRecovery).
			n.log.Info().Str("peer", n.who(id)).Dur("silent_for", now.Sub(n.lastHeard[id])).
				Msgf("broker FAILED while owning topics (detected after %v of silence): moving them to live members", now.Sub(n.lastHeard[id]).Round(time.Millisecond))
			n.detected(now, id, "owner", "failed")
			change = true
		}
	}
	if change {
		n.startRecovery(now)
	}
}

// partOf names the part id plays in the view, for a detection.
func (n *Node) partOf(id NodeID) string {
	switch {
	case id == n.view.Leader:
		return "leader"
	case n.holdsUp(id):
		return "owner"
	}
	return "member"
}

// holdsUp reports whether id owns a topic of the view, or is the source of
// the agreed log of a topic whose owner has not caught up yet — either way
// that topic cannot take writes while id is silent.
func (n *Node) holdsUp(id NodeID) bool {
	for _, name := range n.topicNames() {
		owner := n.ownerOf(name)
		if owner == id {
			return true
		}
		a, ok := n.assign[name]
		if !ok || a.Source != id || a.End == 0 {
			continue
		}
		if owner == n.id {
			if t := n.topics[name]; t != nil && !t.synced {
				return true
			}
		} else if !n.installAcks[owner] {
			return true
		}
	}
	return false
}

// hearsMajority reports whether a majority of the view (this node included)
// is not judged failed. The leader judges its followers with the detector
// they judge it with (the same beat both ways, see PhiDetector), so a leader
// cut off with a minority steps down by the time the majority has judged it
// failed, not a whole FAILURE_TIMEOUT later.
func (n *Node) hearsMajority(now time.Time) bool {
	c := 0
	for _, id := range n.view.IDs() {
		if id == n.id || (!n.isUnreachable(id) && n.det.Status(id, now) != Failed) {
			c++
		}
	}
	return c >= majority(len(n.view.Members))
}

// quorumOK is the owner's check before taking a write: a leader must hear a
// majority; a follower must hear its leader (who steps down otherwise).
func (n *Node) quorumOK(now time.Time) bool {
	if n.view.Leader == n.id {
		return n.hearsMajority(now)
	}
	l := n.view.Leader
	return !n.isUnreachable(l) && now.Sub(n.lastHeard[l]) < n.cfg.FailureTimeout
}

func (n *Node) tickFollower(now time.Time) {
	if !now.Before(n.nextHB) {
		n.nextHB = now.Add(n.cfg.FollowerHBInterval)
		n.log.Debug().Str("leader", n.who(n.view.Leader)).Msg("HEARTBEAT sent to leader")
		n.send(n.view.Leader, n.heartbeat(false))
	}
	switch n.det.Status(n.view.Leader, now) {
	case Suspected:
		if !n.suspectLogged {
			n.suspectLogged = true
			n.log.Info().Str("leader", n.who(n.view.Leader)).Msg("Leader suspected")
		}
		n.takeHeld(now)
	case Failed:
		n.leaderFailure(now)
		n.takeHeld(now)
	case Alive:
		n.suspectLogged = false
	}
	if n.frozen() && now.Sub(n.promisedAt) >= 2*n.cfg.FailureTimeout {
		n.log.Info().Uint64("promised", n.promised).Msg("promised view never installed: new ELECTION")
		n.startElection(now)
	}
}

func (n *Node) leaderFailure(now time.Time) {
	silent := now.Sub(n.lastHeard[n.view.Leader])
	n.log.Info().Str("leader", n.who(n.view.Leader)).Uint64("view", n.view.Number).Dur("silent_for", silent).
		Msgf("LEADER FAILURE (detected after %v of silence)", silent.Round(time.Millisecond))
	n.leaderFailed = true
	n.detected(now, n.view.Leader, "leader", "failed")
	if n.elec.participating && n.elec.lastCandidate > n.id && n.elec.lastCandidate != n.view.Leader {
		// A broker that noticed first started a round, and we passed its
		// better token on before we knew the leader was gone. A round of
		// our own would be swallowed by our successor (ours is the weaker
		// token), and the better one would be lost: the round would wait
		// out an election timeout.
		if n.elec.next == n.view.Leader {
			// We passed it to the leader: pass it on past the leader.
			n.startRound(now, n.elec.lastCandidate, n.elec.forced)
			return
		}
		// It is on its way (tickHop still watches the hop): that round is
		// ours too.
		n.becomeCandidate()
		return
	}
	n.startElection(now)
}

// abandonOwnRecovery drops a view change of ours once the leader of an
// active view (ours, or a newer one) is heard: we started it when we lost
// the leader alone (cut off, paused), and it would only freeze a healthy
// view. The promise we made ourselves for it goes too — no one acts on a
// proposal whose proposer never installs it — but not a promise made to
// another proposer before it: that one may have counted towards a view
// installed since. Going below it would let us promise the same proposal
// number twice (simulation seed 1657: we promised 3 to broker 3, which
// installed view 3 with our answer; our own change abandoned, we went back
// to 2, promised 3 to broker 1 too, and view 3 had two leaders). Still
// frozen for that promise, we ask the leader to add us in a new view
// (onHeartbeat). Reports whether one was dropped.
func (n *Node) abandonOwnRecovery(leader NodeID) bool {
	if n.rec == nil || n.promisedTo != n.id {
		return false
	}
	n.log.Info().Str("leader", n.who(leader)).Uint64("proposal", n.rec.proposal).
		Msg("a leader is alive and its view active: our view change abandoned")
	back := promiseOf{n.view.Number, n.view.Leader}
	if prior := n.rec.prior; prior.proposal > back.proposal {
		back = prior
	}
	n.rec = nil
	n.promised, n.promisedTo = back.proposal, back.to
	n.saveState()
	return true
}

func (n *Node) tickJoining(now time.Time) {
	if n.joinTarget != 0 && !now.Before(n.nextJoin) {
		n.sendJoin(now, n.joinTarget)
	}
	if n.view.Number == 0 || n.installed || n.rec != nil {
		return
	}
	// Restarted with a remembered view and no leader to be heard: none
	// heartbeats to us, or the one we ask never answers. Elect over the
	// last view rather than wait for an election nobody else may start
	// (every broker restarted; the runtime's discovery usually says so
	// sooner, see NoLeader).
	quiet := n.joinTarget == 0 && now.Sub(n.startedAt) >= n.cfg.FailureTimeout
	deaf := n.joinTarget != 0 && now.Sub(n.joinSince) >= n.cfg.FailureTimeout && now.Sub(n.lastHeard[n.joinTarget]) >= n.cfg.FailureTimeout
	if quiet || deaf {
		n.joinTarget = 0
		n.NoLeader(now)
	}
}

func (n *Node) onHeartbeat(now time.Time, m *Heartbeat) {
	n.log.Debug().Str("from", n.who(m.From)).Uint64("view", m.View).Bool("leader", m.IsLeader).Msg("HEARTBEAT received")
	if !m.IsLeader {
		// A follower's heartbeat: it confirms the follower installed m.View.
		if n.role != RoleLeader {
			return
		}
		if m.View == n.view.Number && n.view.Has(m.From) {
			// Answer it: the follower then hears us every
			// FollowerHBInterval, and judges us by that beat (see
			// PhiDetector) — a paused leader is replaced within two
			// follower beats, not two of our slower multicast ones.
			n.send(m.From, n.heartbeat(true))
		}
		switch {
		case m.View == n.view.Number && n.view.Has(m.From) && m.Synced:
			if !n.installAcks[m.From] {
				n.installAcks[m.From] = true
				n.checkActivation(now)
			}
		case m.View < n.view.Number && n.view.Has(m.From) && n.lastInstall != nil && now.Sub(n.resent[m.From]) >= n.cfg.FollowerHBInterval:
			n.resent[m.From] = now
			n.send(m.From, n.lastInstall)
		}
		return
	}
	if m.Cluster == 0 && n.cluster != 0 {
		// Every bootstrap draws an identity and every member adopts it, so
		// a "leader" without one leads no cluster: a stale or hostile
		// sender. Stepping down for it would stop a healthy leader (the
		// bad-input test's stranger heartbeats did exactly that).
		return
	}
	mine := n.view.Number
	switch {
	case m.View == mine && m.From == n.view.Leader && n.member:
		n.leaderHolds = m.Holds
		n.elec.held = nil // the leader is alive: a token held for it is moot
		if m.Active && n.active < m.View {
			n.active = m.View
			n.saveState()
			n.log.Info().Uint64("view", m.View).Msg("view active")
			n.recomputeOwned(now)
		}
		if m.Active && n.abandonOwnRecovery(m.From) {
			n.becomeFollower(now)
		}
		if n.frozen() {
			// We promised a view that never came; ask the leader for a new one.
			if !now.Before(n.nextJoin) {
				n.sendJoin(now, m.From)
			}
			return
		}
		if n.role == RoleCandidate && n.rec == nil {
			n.log.Info().Str("leader", n.who(m.From)).Msg("leader alive again: election abandoned")
			n.becomeFollower(now)
		}
	case n.role == RoleLeader && m.From != n.id:
		// Two leaders see each other (a healed partition): the higher view
		// wins, equal views go to the higher id.
		if m.View > mine || (m.View == mine && m.From > n.id) {
			n.log.Info().Str("other", Display(m.From, "", m.Addr)).Uint64("other_view", m.View).Msg("another leader has precedence: stepping down")
			n.becomeJoining()
			n.askToJoin(now, m.From, m.Addr)
		}
	case m.View > mine || (m.View == mine && !n.member):
		// A leader of a newer view: we missed it, or were removed. Ask in.
		if m.Active && m.View > mine {
			n.abandonOwnRecovery(m.From)
		}
		if n.rec == nil && (!now.Before(n.nextJoin) || n.joinTarget != m.From) {
			n.askToJoin(now, m.From, m.Addr)
		}
	}
}

func (n *Node) onBrokerJoin(now time.Time, m *BrokerJoin) {
	if n.role != RoleLeader {
		if l, ok := n.Leader(); ok && n.member && l.ID != n.id {
			n.send(m.From, &BrokerJoinResponse{From: n.id, View: n.view.Number, Leader: l})
		}
		return
	}
	me, _ := n.view.Member(n.id)
	n.send(m.From, &BrokerJoinResponse{From: n.id, View: n.view.Number, Leader: me, Accepted: true})
	n.seen = max(n.seen, m.Promised)
	switch {
	case n.view.Has(m.From) && n.lastInstall != nil &&
		(m.Promised < n.view.Number || (m.Promised == n.view.Number && m.PromisedTo == n.id)):
		// A member that restarted or missed the install: send it again.
		// (One that promised our view's number to another proposer, which
		// then died, would refuse it: only a newer view frees it, below.)
		n.resent[m.From] = now
		n.send(m.From, n.lastInstall)
	case n.view.Has(m.From):
		// Frozen by a promise above our view: only a newer view frees it.
		if n.rec == nil && n.active == n.view.Number {
			n.startRecovery(now)
		}
	default:
		if _, ok := n.joiners[m.From]; !ok {
			n.log.Info().Str("peer", Display(m.From, "", m.Addr)).Str("peer_id", IDString(m.From)).Msg("BROKER_JOIN: adding broker at next view change")
		}
		n.joiners[m.From] = Member{ID: m.From, Addr: m.Addr}
	}
}

func (n *Node) onBrokerJoinResponse(now time.Time, m *BrokerJoinResponse) {
	if !m.Accepted && m.Leader.ID != 0 && m.Leader.ID != n.id && !(n.installed && n.member) {
		n.askToJoin(now, m.Leader.ID, m.Leader.Addr)
	}
}

// checkActivation makes the leader's view active once a majority of its
// members and a majority of the previous view's members installed it.
func (n *Node) checkActivation(now time.Time) {
	if n.role != RoleLeader || n.active == n.view.Number {
		return
	}
	count := func(ids []NodeID) bool {
		c := 0
		for _, id := range ids {
			if (id == n.id && n.allSynced()) || n.installAcks[id] {
				c++
			}
		}
		return c >= majority(len(ids))
	}
	if !count(n.view.IDs()) || (len(n.view.Prev) > 0 && !count(n.view.Prev)) {
		return
	}
	n.active = n.view.Number
	n.saveState()
	n.logClusterState("active")
	n.nextHB = now.Add(n.cfg.BrokerHBInterval)
	n.multicast(n.heartbeat(true))
	n.recomputeOwned(now)
}

// recomputeOwned re-evaluates the commit index of the topics we own (the
// view just became active: acks counted before may now commit).
func (n *Node) recomputeOwned(now time.Time) {
	for _, name := range n.topicNames() {
		if t := n.topics[name]; t != nil && t.owner == n.id {
			n.recomputeCommit(now, t)
		}
	}
}
