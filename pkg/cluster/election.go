package cluster

import (
	"slices"
	"time"
)

// election is the LCR (Chang–Roberts) state. The ring is the last view's
// members (and us) sorted by id, minus the peers known dead: the failed
// leader, peers the transport reported unreachable, and successors that
// swallowed a previous round (skip) — that is the ring repair.
type election struct {
	participating bool
	started       time.Time
	next          NodeID // where we sent the token
	lastCandidate NodeID
	skip          map[NodeID]bool
	// silent: members the carriers of tokens we took found silent (their
	// Election.Skipped). Only recovery reads it: it does not wait for them.
	// (Our ring still skips only those we found silent ourselves.)
	silent      map[NodeID]bool
	coordinator NodeID // winner announced by COORDINATOR
	coordAt     time.Time
	// The last hop: the token we sent to hopTo at hopAt, until ELECTION_ACK.
	hopTo    NodeID
	hopAt    time.Time
	hopAcked bool
	// forced: this round was asked for by an operator (see Election.Forced).
	forced bool
	// held is a token that reached us while we still heard our leader (see
	// onElection); it is taken up if we stop hearing it, dropped at its next
	// heartbeat.
	held *Election
}

// electionTimeout bounds one round; a node's id staggers it a little so that
// retries do not collide forever.
func (n *Node) electionTimeout() time.Duration {
	return n.cfg.FailureTimeout + time.Duration(uint64(n.id)%7)*n.cfg.FollowerHBInterval/7
}

// StartElection starts an LCR election (SIGUSR1, `logstreamctl election`).
func (n *Node) StartElection(now time.Time) {
	n.now = now
	n.startRound(now, n.id, true)
}

func (n *Node) startElection(now time.Time) { n.startRound(now, n.id, false) }

// startRound starts a round that carries candidate (ourselves, or a better
// candidate whose token we must pass on again).
func (n *Node) startRound(now time.Time, candidate NodeID, forced bool) {
	if n.view.Number == 0 {
		return // never a member of any view: nothing to elect over
	}
	n.rec = nil
	n.becomeCandidate()
	n.elec.forced = forced
	held := n.elec.held
	n.elec.held = nil
	n.elec.participating = true
	n.elec.started = now
	n.elec.coordinator = 0
	n.log.Info().Uint64("view", n.view.Number).Msg("ELECTION started")
	n.forwardElection(now, candidate)
	if held != nil && held.View >= n.view.Number {
		// A token that reached us while the leader still seemed alive: we
		// now know better (however we learnt it), and it may carry a
		// better candidate than ours.
		n.takeToken(now, held)
	}
}

// ringNext returns our live successor on the ring, or 0 if we are alone.
func (n *Node) ringNext() NodeID {
	ids := n.view.IDs()
	if !slices.Contains(ids, n.id) {
		ids = append(ids, n.id)
		slices.Sort(ids)
	}
	i := slices.Index(ids, n.id)
	for k := 1; k < len(ids); k++ {
		c := ids[(i+k)%len(ids)]
		if !n.inRing(c) {
			continue
		}
		return c
	}
	return 0
}

// inRing reports whether id takes part in our ring: a member of our view,
// not known dead, not found silent this round (by us, or by a carrier of a
// token we took: passing the token to it again would cost another hop
// time-out), not the failed leader.
func (n *Node) inRing(id NodeID) bool {
	return id == n.id || (n.view.Has(id) && !n.isUnreachable(id) && !n.elec.foundSilent(id) && !(n.leaderFailed && id == n.view.Leader))
}

func (n *Node) forwardElection(now time.Time, candidate NodeID) {
	n.elec.lastCandidate = candidate
	next := n.ringNext()
	n.elec.next = next
	if next == 0 {
		if candidate == n.id {
			n.win(now)
		}
		return
	}
	n.log.Info().Str("candidate", n.who(candidate)).Str("to", n.who(next)).Msg("ELECTION forwarded")
	n.send(next, &Election{From: n.id, View: n.view.Number, Candidate: candidate, Addr: n.cfg.Addr, Forced: n.elec.forced, Skipped: n.elec.skipped()})
	n.elec.hopTo, n.elec.hopAt, n.elec.hopAcked = next, now, false
}

func (n *Node) onElection(now time.Time, m *Election) {
	if (m.View < n.view.Number && n.installed) || n.view.Number == 0 {
		return // from an older view (its ring is stale), or we were never a member
	}
	// The token arrived, whatever we do with it (a swallowed token is an
	// LCR decision, not a loss): the sender must not skip us.
	n.send(m.From, &ElectionAck{From: n.id, View: n.view.Number})
	if !m.Forced && m.From != n.view.Leader && n.hearsOwnLeader(now) {
		// (A token from the leader itself is taken: it leads no more.)
		// A member that lost the leader alone (it was cut off or paused)
		// must not drag a healthy view into an election: every topic
		// freezes for the round and the recovery after it. Hold the token:
		// if we stop hearing the leader too we take it up (the failure is
		// real and we are no later for it); if the leader's next heartbeat
		// comes first, the token is dropped — the sender hears the leader
		// too and abandons its round.
		if n.role == RoleLeader {
			n.send(m.From, n.heartbeat(true))
			return
		}
		held := *m
		n.elec.held = &held
		// Someone lost the leader: ask it now rather than at our next
		// beat. A killed leader's port refuses (Unreachable takes the
		// token up at once; chaos seed 4: a member held the token of the
		// two that found the leader dead for 0.6 s); a live one answers.
		n.send(n.view.Leader, n.heartbeat(false))
		return
	}
	n.takeToken(now, m)
}

// hearsOwnLeader reports whether this node is a member of an active view
// whose leader it still judges alive (or leads it, hearing a majority) —
// also while that leader changes the view and we froze for it: a view
// change of our own leader's (re-adding brokers that came back) must not
// be taken over by a stale proposal. Chaos seed 6: a broker cut off alone
// had queued STATE_EXCHANGEs of rounds it had already abandoned; delivered
// when the link healed, in the middle of the leader's change re-adding it,
// they drew promises from the leader and a member, and every topic froze
// for an election timeout.
func (n *Node) hearsOwnLeader(now time.Time) bool {
	if !n.installed || !n.member || n.active != n.view.Number {
		return false
	}
	if n.frozen() && n.promisedTo != n.view.Leader {
		return false // we promised someone else's view change
	}
	switch {
	case n.view.Leader == n.id:
		return (n.role == RoleLeader || n.rec != nil) && n.hearsMajority(now)
	case n.role == RoleFollower:
		return !n.leaderFailed && n.det.Status(n.view.Leader, now) == Alive
	case n.role == RoleCandidate && n.frozen():
		// Unless we gave up on that change (a round of ours is running).
		return !n.elec.participating && !n.isUnreachable(n.view.Leader) && n.det.Status(n.view.Leader, now) == Alive
	}
	return false
}

// loyal reports whether this node should turn down a view change led by
// from: it never took part in the round that made from the winner, and it
// still hears its own leader (a broker that lost the leader alone — cut
// off, paused — won a round by itself; its STATE_EXCHANGE, arriving when
// the link heals, would freeze a healthy view for nothing).
func (n *Node) loyal(now time.Time, from NodeID) bool {
	return from != n.view.Leader && !n.elec.participating && n.elec.coordinator != from && n.hearsOwnLeader(now)
}

// takeHeld takes up a held token once we no longer hear the leader either.
func (n *Node) takeHeld(now time.Time) {
	if m := n.elec.held; m != nil {
		n.elec.held = nil
		if m.View >= n.view.Number {
			n.log.Info().Str("from", n.who(m.From)).Msg("leader silent here too: taking up the ELECTION token held")
			n.takeToken(now, m)
		}
	}
}

// skipped lists the members found silent this round, by us or by the
// carriers of the tokens we took, for the token we pass on.
func (e *election) skipped() []NodeID {
	var ids []NodeID
	for id := range e.skip {
		ids = append(ids, id)
	}
	for id := range e.silent {
		if !e.skip[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// foundSilent reports whether a carrier of this round's tokens (we or
// another) found id silent.
func (e *election) foundSilent(id NodeID) bool { return e.skip[id] || e.silent[id] }

// takeToken is the LCR step for a token we act on.
func (n *Node) takeToken(now time.Time, m *Election) {
	n.elec.forced = n.elec.forced || m.Forced
	for _, id := range m.Skipped {
		if id != n.id {
			if n.elec.silent == nil {
				n.elec.silent = map[NodeID]bool{}
			}
			n.elec.silent[id] = true
		}
	}
	switch {
	case m.Candidate == n.id:
		if n.elec.participating && n.rec == nil {
			n.win(now)
		}
	case m.Candidate > n.id && n.inRing(m.Candidate):
		if !n.elec.participating {
			// The round's clock starts when we join it, not at every token
			// we pass on: otherwise the retries of others would keep
			// resetting it, and the one node that can see its successor
			// swallow the token (because it is paused or cut off, not
			// dead) would never time out and skip it.
			n.elec.participating = true
			n.elec.started = now
		}
		n.forwardElection(now, m.Candidate)
	case !n.elec.participating:
		// A weaker candidate, or one we know to be gone: its token can only
		// end by reaching it, so passing it on would loop for ever among
		// the brokers that skip it. Run for ourselves instead.
		n.elec.participating = true
		n.elec.started = now
		n.forwardElection(now, n.id)
	}
}

func (n *Node) win(now time.Time) {
	n.elec.participating = false
	n.log.Info().Uint64("view", n.view.Number).Msg("I WIN the ELECTION")
	n.log.Info().Msg("COORDINATOR sent")
	n.multicast(&Coordinator{From: n.id, View: n.view.Number, Leader: n.id})
	n.startRecovery(now)
}

func (n *Node) onCoordinator(now time.Time, m *Coordinator) {
	if m.View < n.view.Number && n.installed {
		return
	}
	if n.loyal(now, m.Leader) {
		return // a round we took no part in, while our leader is alive
	}
	if !n.view.Has(m.Leader) || !n.view.Has(m.From) {
		// Only a member of our view can win an election over it. A
		// COORDINATOR naming anyone else (a stale or hostile sender) would
		// freeze us, and each copy would restart the wait — the new
		// leader's STATE_EXCHANGE is what binds us anyway.
		return
	}
	n.log.Info().Str("leader", n.who(m.Leader)).Msg("COORDINATOR received")
	n.elec.participating = false
	n.elec.coordinator = m.Leader
	n.elec.coordAt = now
	if m.Leader != n.id && n.rec != nil {
		n.rec = nil
	}
	if n.role == RoleFollower || n.role == RoleLeader {
		n.becomeCandidate()
	}
}

// waitPromised watches the proposer of the view change we promised (and
// froze for) while it has not installed it: the leader paused or killed in
// the middle of adding a returning broker. Every member froze with us, so
// waiting out the election timeout would stall every topic for it. We
// heartbeat the proposer as a follower does its leader (a dead one is
// found at once: the transport reports it Unreachable), and judge it by
// the detector as a follower judges its leader (a live proposer re-asks
// us every follower beat, see askState, so silence this long is not a
// slow recovery). It reports whether it started a new round.
func (n *Node) waitPromised(now time.Time) bool {
	to := n.promisedTo
	if !n.frozen() || n.elec.participating || to == n.id || to == 0 ||
		(n.elec.coordinator != 0 && n.elec.coordinator != to) || // another winner's change is on its way
		n.seen > n.view.Number { // we were away: a round over our stale ring would only compete with the members'
		return false
	}
	if !now.Before(n.nextHB) {
		n.nextHB = now.Add(n.cfg.FollowerHBInterval)
		n.send(to, n.heartbeat(false))
	}
	if n.det.Status(to, now) != Failed {
		return false
	}
	n.log.Info().Str("proposer", n.who(to)).Uint64("promised", n.promised).Dur("silent_for", now.Sub(n.lastHeard[to])).
		Msg("proposer of the promised view failed: new ELECTION")
	n.detected(now, to, "proposer", "failed")
	n.elec.skip[to] = true
	n.startRound(now, n.id, false)
	return true
}

func (n *Node) tickCandidate(now time.Time) {
	if n.rec != nil {
		n.tickRecovery(now)
		return
	}
	if n.waitPromised(now) {
		return
	}
	since := n.elec.started
	if n.elec.coordAt.After(since) {
		since = n.elec.coordAt
	}
	if n.promisedAt.After(since) {
		since = n.promisedAt
	}
	if now.Sub(since) < n.electionTimeout() {
		return
	}
	if n.elec.participating && n.elec.next != 0 {
		// Our successor swallowed the token: skip it next round.
		n.elec.skip[n.elec.next] = true
	}
	n.log.Info().Msg("ELECTION timed out: retrying")
	n.startRound(now, n.id, n.elec.forced)
}

// hopTimeout is how long a hop waits for ELECTION_ACK before the sender
// skips the silent successor: a few round trips on a LAN, well under the
// failure timeout, and never below a few ticks of the runtime (a skip on a
// late acknowledgement passes the token past a live member, which then
// runs a round of its own).
func (n *Node) hopTimeout() time.Duration {
	return max(n.cfg.FollowerHBInterval/2, 50*time.Millisecond)
}

func (n *Node) onElectionAck(m *ElectionAck) {
	if m.From == n.elec.hopTo {
		n.elec.hopAcked = true
	}
}

// tickHop repairs the ring when a successor took the token and never
// confirmed it (paused, cut off; a refused connection is handled at once by
// Unreachable): skip it for this round and pass the token on.
func (n *Node) tickHop(now time.Time) {
	e := &n.elec
	if !e.participating || e.hopTo == 0 || e.hopAcked || now.Sub(e.hopAt) < n.hopTimeout() {
		return
	}
	n.log.Info().Str("to", n.who(e.hopTo)).Dur("after", now.Sub(e.hopAt)).
		Msg("ELECTION token not acknowledged: skipping the silent member, passing it on")
	e.skip[e.hopTo] = true
	e.hopTo = 0
	n.forwardElection(now, e.lastCandidate)
}
