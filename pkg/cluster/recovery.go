package cluster

import (
	"slices"
	"time"
)

// recovery is the winner's view change: freeze, STATE_EXCHANGE, adopt the
// most up-to-date log of every topic, VIEW_INSTALL.
//
// Safety argument in brief (Paxos phase 1 + VR view change):
//   - A broker answering STATE_EXCHANGE(p) promises p: it stops accepting and
//     acknowledging records of older views, so nothing more commits there.
//   - The winner needs answers from a majority of the newest view any
//     responder installed (base) — and, unless some responder knows that view
//     was activated, from a majority of its anchor (base.Prev: the members
//     of the last view known active when base was made) too. A view is
//     activated (may commit) only after a majority of its members and of its
//     anchor installed it AND hold its agreed logs, so a recovery that might
//     otherwise miss an active view meets one of its installers and rebases
//     onto it, and a chain of views that never activated cannot drift away
//     from the data of the last active one.
//   - Among responders of base (and base.Prev) the log with the largest
//     (label, length) is adopted (see history.go). A committed record was
//     stored by a majority of the active view, one of which answered, and
//     every log with at least its label extends it.
//   - The leader of an active view keeps in its next view the members it
//     heard within the broker timeout even if they do not answer (a paused
//     owner: its topics move, its membership waits for the timeout). They
//     never promised p, but the answering majority did, so nothing more
//     commits in base; the answers are still a majority of the new view;
//     and as members of base they were eligible in later recoveries anyway,
//     where their older-labelled logs lose to those of an activated view.
type recovery struct {
	proposal    uint64
	started     time.Time
	base        View
	knownActive uint64
	asked       map[NodeID]time.Time
	resp        map[NodeID]*StateExchangeResponse
	quorumAt    time.Time
	waitLogged  time.Time
	restarts    int
	// keep: when the leader of an active view changes it, the members it
	// heard within the broker timeout. They stay in the new view even if
	// they do not answer (only the broker timeout removes a member); the
	// topics of those it judges Failed move to members that answered.
	keep map[NodeID]bool
	// prior is the promise we had made before this change of ours (and its
	// restarts): abandoning the change may go back to it, never below it
	// (see abandonOwnRecovery).
	prior promiseOf
}

// promiseOf is a promise: a proposal, and to whom it was made.
type promiseOf struct {
	proposal uint64
	to       NodeID
}

func (n *Node) startRecovery(now time.Time) {
	if n.view.Number == 0 && n.rec == nil && !n.bootstrapping {
		// Never a member: only an explicit Bootstrap may create a cluster.
		return
	}
	restarts := 0
	var keep map[NodeID]bool
	prior := promiseOf{n.promised, n.promisedTo}
	switch {
	case n.rec != nil:
		restarts, keep, prior = n.rec.restarts+1, n.rec.keep, n.rec.prior
	case n.role == RoleLeader && n.member && n.active == n.view.Number:
		// Only the leader of an active view knows how recently it heard
		// each member (followers hear only the leader).
		keep = map[NodeID]bool{}
		for _, id := range n.view.IDs() {
			if id != n.id && !n.isUnreachable(id) && now.Sub(n.lastHeard[id]) < n.cfg.BrokerTimeout {
				keep[id] = true
			}
		}
	}
	n.failPending(ErrFrozen)
	p := max(n.seen, n.view.Number, n.promised) + 1
	n.seen = p
	n.promise(now, p, n.id)
	base := n.view.clone()
	if base.Number == 0 {
		base = View{Members: []Member{{ID: n.id, Addr: n.cfg.Addr}}}
	}
	n.becomeCandidate()
	n.rec = &recovery{proposal: p, started: now, base: base, knownActive: n.active,
		asked: map[NodeID]time.Time{}, resp: map[NodeID]*StateExchangeResponse{}, restarts: restarts, keep: keep, prior: prior}
	n.rec.resp[n.id] = n.stateResponse(p, true)
	n.log.Info().Uint64("proposal", p).Uint64("base_view", base.Number).Msg("STATE_EXCHANGE started: cluster frozen")
	n.askState(now)
	n.checkRecovery(now)
}

func (n *Node) promise(now time.Time, p uint64, to NodeID) {
	n.promised, n.promisedTo, n.promisedAt = p, to, now
	n.saveState()
}

// askState sends STATE_EXCHANGE to everyone whose state may matter and who
// has not answered (again every BrokerHBInterval: messages get lost).
func (n *Node) askState(now time.Time) {
	r := n.rec
	targets := append(r.base.IDs(), r.base.Prev...)
	for id := range n.joiners {
		targets = append(targets, id)
	}
	slices.Sort(targets)
	for _, id := range slices.Compact(targets) {
		if id == n.id {
			continue
		}
		// Those that answered are asked again every follower beat: they
		// froze on our promise and judge us by our traffic (waitPromised),
		// so a recovery that waits on others must not look like our death.
		// They answer again; the answer is dropped (one per member).
		again := n.cfg.BrokerHBInterval
		if r.resp[id] != nil {
			again = n.cfg.FollowerHBInterval
		}
		if t, ok := r.asked[id]; ok && now.Sub(t) < again {
			continue
		}
		r.asked[id] = now
		n.send(id, &StateExchange{From: n.id, View: n.view.Number, Proposal: r.proposal, Addr: n.cfg.Addr})
	}
}

func (n *Node) tickRecovery(now time.Time) {
	if now.Sub(n.rec.started) >= 2*n.cfg.FailureTimeout {
		n.log.Info().Uint64("proposal", n.rec.proposal).Msg("STATE_EXCHANGE found no majority: new ELECTION")
		n.startElection(now)
		return
	}
	n.askState(now)
	n.checkRecovery(now)
	if n.rec != nil && now.Sub(n.rec.waitLogged) >= n.cfg.FailureTimeout/2 && now.Sub(n.rec.started) >= n.cfg.FailureTimeout/2 {
		n.rec.waitLogged = now
		n.logWaiting()
	}
}

// logWaiting says in one line which members of the last view a recovery
// still needs to hear from, so an operator restarting a cluster knows whom
// to start next.
func (n *Node) logWaiting() {
	r := n.rec
	var have, missing []string
	for _, m := range r.base.Members {
		if r.resp[m.ID] != nil {
			have = append(have, memberName(m))
		} else {
			missing = append(missing, memberName(m))
		}
	}
	n.log.Warn().Uint64("view", r.base.Number).Int("need", majority(len(r.base.Members))).Strs("answered", have).Strs("waiting_for", missing).
		Msgf("STATE_EXCHANGE: waiting for a majority of view %d (%d of %d): answered %v, waiting for %v",
			r.base.Number, majority(len(r.base.Members)), len(r.base.Members), have, missing)
}

func memberName(m Member) string { return Display(m.ID, "", m.Addr) }

// stateResponse describes this node for STATE_EXCHANGE.
func (n *Node) stateResponse(p uint64, ok bool) *StateExchangeResponse {
	r := &StateExchangeResponse{From: n.id, View: n.view.Number, Proposal: p, OK: ok, Promised: n.promised,
		Active: n.active, Current: n.view.clone()}
	if !ok {
		return r
	}
	for _, name := range n.topicNames() {
		t := n.topic(name)
		if t == nil {
			continue
		}
		end := t.log.NextOffset()
		owner := NodeID(0)
		if n.installed {
			owner = n.ownerOf(name)
		} else if a, ok := n.assign[name]; ok {
			owner = a.Owner
		}
		r.Topics = append(r.Topics, TopicState{Topic: name, Owner: owner, End: end, Committed: t.reported, History: clipHistory(t.hist, end)})
	}
	return r
}

func (n *Node) onStateExchange(now time.Time, m *StateExchange) {
	ok := (m.Proposal > n.promised && m.Proposal > n.view.Number) || (m.Proposal == n.promised && m.From == n.promisedTo)
	if ok && m.Proposal != n.promised && n.loyal(now, m.From) {
		n.log.Info().Str("from", Display(m.From, "", m.Addr)).Str("leader", n.who(n.view.Leader)).
			Msg("STATE_EXCHANGE refused: our leader is alive and we took no part in that election")
		ok = false
	}
	if ok && m.Proposal != n.promised {
		n.log.Info().Str("from", Display(m.From, "", m.Addr)).Uint64("proposal", m.Proposal).Msg("STATE_EXCHANGE: promised, frozen")
		n.promise(now, m.Proposal, m.From)
		n.failPending(ErrFrozen)
		if n.rec != nil {
			n.rec = nil // someone else leads this change
		}
		n.elec.participating = false
		n.elec.coordinator = m.From
		n.elec.coordAt = now
		if n.role == RoleLeader || n.role == RoleFollower {
			n.becomeCandidate()
		}
	}
	// The answer rides the Ready that carries the promise's write: it
	// leaves only once the promise is durable, and a failed write stops
	// the node instead (Advance).
	n.send(m.From, n.stateResponse(m.Proposal, ok))
}

func (n *Node) onStateExchangeResponse(now time.Time, m *StateExchangeResponse) {
	r := n.rec
	if r == nil || m.Proposal != r.proposal || r.resp[m.From] != nil {
		return
	}
	if !m.OK {
		n.seen = max(n.seen, m.Promised, m.Current.Number)
		if r.restarts < 3 {
			n.startRecovery(now)
		}
		return
	}
	r.resp[m.From] = m
	r.knownActive = max(r.knownActive, m.Active)
	if m.Current.Number > r.base.Number {
		// Someone installed a newer view than we knew: its majority decides.
		r.base = m.Current.clone()
		r.quorumAt = time.Time{}
		n.log.Info().Uint64("base_view", r.base.Number).Msg("STATE_EXCHANGE: rebased on a newer view")
		n.askState(now)
	}
	n.checkRecovery(now)
}

func (n *Node) hasQuorum(ids []NodeID) bool {
	c := 0
	for _, id := range ids {
		if n.rec.resp[id] != nil {
			c++
		}
	}
	return c >= majority(len(ids))
}

func (n *Node) checkRecovery(now time.Time) {
	r := n.rec
	if r == nil {
		return
	}
	if !n.hasQuorum(r.base.IDs()) || (r.knownActive < r.base.Number && len(r.base.Prev) > 0 && !n.hasQuorum(r.base.Prev)) {
		return
	}
	if r.quorumAt.IsZero() {
		r.quorumAt = now
	}
	// Wait a little for stragglers so a slow member is not dropped needlessly
	// (nor its topics moved) — but not for one known dead, judged Failed,
	// or that the leader is removing (silent past the broker timeout), nor
	// for the leader whose failure started this change (waiting for it cost
	// every failover a whole FollowerHBInterval), nor for a member the
	// election found silent (a double fault: it cost another second).
	all := true
	for _, id := range r.base.IDs() {
		removing := r.keep != nil && !r.keep[id] && id != n.id
		if r.resp[id] == nil && !n.isUnreachable(id) && !n.failedKept(id) && !removing && !n.failedLeader(id) && !n.elec.foundSilent(id) {
			all = false
		}
	}
	for id := range n.joiners {
		if r.resp[id] == nil {
			all = false
		}
	}
	if !all && now.Sub(r.quorumAt) < n.cfg.FollowerHBInterval {
		return
	}
	n.finishRecovery(now)
}

// failedKept reports whether id is a member kept in the new view although
// silent, and judged Failed: its topics move to members that answered.
func (n *Node) failedKept(id NodeID) bool {
	return n.rec.keep[id] && n.rec.resp[id] == nil && n.det.Status(id, n.now) == Failed
}

// failedLeader reports whether id led the view being changed and this node
// judged it failed: the reason for the change, not a straggler.
func (n *Node) failedLeader(id NodeID) bool {
	failed := (n.leaderFailed && id == n.view.Leader) || n.det.Status(id, n.now) == Failed
	return id != n.id && id == n.rec.base.Leader && failed
}

func (n *Node) finishRecovery(now time.Time) {
	r := n.rec
	// Anchor the new view to the last view known active: a chain of views
	// that never activated must still answer to that view's majority.
	v := View{Number: r.proposal, Leader: n.id, Prev: r.base.IDs()}
	if r.knownActive < r.base.Number && len(r.base.Prev) > 0 {
		v.Prev = slices.Clone(r.base.Prev)
	}
	addrs := map[NodeID]string{n.id: n.cfg.Addr}
	for _, m := range r.base.Members {
		addrs[m.ID] = m.Addr
	}
	for id, m := range n.joiners {
		addrs[id] = m.Addr
	}
	eligible := map[NodeID]bool{}
	for _, id := range append(r.base.IDs(), r.base.Prev...) {
		eligible[id] = true
	}
	var live []NodeID // members that answered: they alone may take over topics
	for id := range r.resp {
		_, joiner := n.joiners[id]
		if id == n.id || r.base.Has(id) || joiner {
			v.Members = append(v.Members, Member{ID: id, Addr: addrs[id]})
			live = append(live, id)
		}
	}
	// Joiners that did not answer are forgotten: one still alive repeats
	// its BROKER_JOIN; one that died must not make every tick start another
	// view change for ever.
	clear(n.joiners)
	// Silent members the leader heard within the broker timeout stay: the
	// answers are a majority of base and include every joiner, so they are
	// a majority of the new view too and it can still activate; and a
	// member of base was eligible in later recoveries anyway. If it comes
	// back in time it installs this view and catches up, with no view change.
	for id := range r.keep {
		if r.resp[id] == nil && r.base.Has(id) && !n.isUnreachable(id) {
			v.Members = append(v.Members, Member{ID: id, Addr: addrs[id]})
		}
	}
	slices.SortFunc(v.Members, func(a, b Member) int { return cmpID(a.ID, b.ID) })
	slices.Sort(live)

	// Per topic: the most up-to-date log among eligible responders.
	type choice struct {
		ts        *TopicState
		from      NodeID
		committed uint64
		owner     NodeID
		ownerView uint64
	}
	chosen := map[string]*choice{}
	ids := make([]NodeID, 0, len(r.resp))
	for id := range r.resp {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		resp := r.resp[id]
		for i := range resp.Topics {
			ts := &resp.Topics[i]
			c := chosen[ts.Topic]
			if c == nil {
				c = &choice{}
				chosen[ts.Topic] = c
			}
			c.committed = max(c.committed, ts.Committed)
			if ts.Owner != 0 && resp.Current.Number >= c.ownerView {
				c.owner, c.ownerView = ts.Owner, resp.Current.Number
			}
			if !eligible[id] {
				continue
			}
			if c.ts == nil || newer(label(ts.History), ts.End, label(c.ts.History), c.ts.End) {
				c.ts, c.from = ts, id
			}
		}
	}
	// Topics of departed members, and of silent ones judged Failed, go to a
	// member that answered (placed by the ring over those, so the choice is
	// spread and deterministic). A topic never moves otherwise: not back to
	// its old owner when it returns, nor on a mere suspicion.
	ring := newHashRing(live, n.cfg.VirtualNodes)
	names := make([]string, 0, len(chosen))
	for name := range chosen {
		names = append(names, name)
	}
	slices.Sort(names)
	inst := &ViewInstall{From: n.id, View: v.Number, NewView: v}
	for _, name := range names {
		c := chosen[name]
		a := TopicAssign{Topic: name, Owner: c.owner}
		if c.ts != nil {
			a.Source, a.End, a.History = c.from, c.ts.End, clipHistory(c.ts.History, c.ts.End)
		}
		a.Committed = c.committed
		if a.Committed > a.End {
			// Cannot happen if the protocol is right; never claim more.
			n.log.Error().Str("topic", name).Uint64("committed", a.Committed).Uint64("agreed_end", a.End).
				Msg("committed prefix longer than the longest log found")
			a.Committed = a.End
		}
		if !v.Has(a.Owner) || n.failedKept(a.Owner) {
			if v.Has(a.Owner) {
				n.log.Info().Str("topic", name).Str("from", n.who(a.Owner)).Str("to", n.who(ring.owner(name))).
					Msg("owner FAILED: topic moves")
			}
			a.Owner = ring.owner(name)
		}
		inst.Topics = append(inst.Topics, a)
	}
	n.rec = nil
	if n.cluster == 0 {
		// State from before clusters had identities: name it now; members
		// adopt it with this install.
		n.cluster = n.cfg.NewClusterID()
	}
	n.log.Info().Uint64("view", v.Number).Int("members", len(v.Members)).Int("topics", len(inst.Topics)).Msg("VIEW_INSTALL sent")
	n.lastInstall = inst
	n.installAcks = map[NodeID]bool{}
	n.resent = map[NodeID]time.Time{}
	for _, id := range v.IDs() {
		if id != n.id {
			n.resent[id] = now
			n.send(id, inst)
		}
	}
	n.installView(now, inst)
	n.checkActivation(now)
}

func (n *Node) onViewInstall(now time.Time, m *ViewInstall) {
	v := m.NewView.Number
	fresh := v > n.view.Number || (v == n.view.Number && !n.installed)
	allowed := v > n.promised || (v == n.promised && m.From == n.promisedTo)
	if !fresh || !allowed || m.NewView.Leader != m.From {
		if v == n.view.Number && n.installed && n.member {
			n.send(m.From, n.heartbeat(false)) // re-confirm: our confirmation was lost
		}
		return
	}
	n.installView(now, m)
}

func (n *Node) installView(now time.Time, m *ViewInstall) {
	// A leader installing its own next view keeps what it heard of the
	// members it already led: a silent member kept in the view must still
	// be removed at the broker timeout counted from its silence, and stay
	// judged Failed meanwhile (so its topics are not handed back to it).
	prev, stillLeader := n.view, n.installed && n.member && n.view.Leader == n.id && m.From == n.id
	if n.cluster == 0 {
		n.cluster = m.Cluster // a fresh broker joins the leader's cluster
	}
	n.view = m.NewView.clone()
	n.installed = true
	n.member = n.view.Has(n.id)
	if m.View > n.promised {
		n.promised, n.promisedTo = m.View, m.From
	}
	n.seen = max(n.seen, m.View)
	n.saveState()
	nv := n.view.clone()
	n.out.View = &nv
	n.ring = newHashRing(n.view.IDs(), n.cfg.VirtualNodes)
	n.rec = nil
	if m.From != n.id {
		// Joins were asked of us as leader; the joiners ask the new one.
		clear(n.joiners)
	}
	n.resetElection()
	n.suspectLogged = false
	clear(n.unreachable)
	n.failPending(ErrFrozen)
	for _, id := range n.view.IDs() {
		if stillLeader && prev.Has(id) {
			continue
		}
		n.lastHeard[id] = now
		n.det.Reset(id, now)
	}
	switch {
	case m.From == n.id:
		n.becomeLeader(now)
	case n.member:
		n.becomeFollower(now)
	default:
		n.becomeJoining()
	}
	n.logClusterState("VIEW_INSTALL")
	n.assign = map[string]TopicAssign{}
	for _, a := range m.Topics {
		n.assign[a.Topic] = a
	}
	if !n.member {
		return
	}
	for _, a := range m.Topics {
		n.adopt(now, a)
	}
	for _, name := range n.topicNames() {
		if _, ok := n.assign[name]; !ok {
			n.adopt(now, TopicAssign{Topic: name, Owner: n.ring.owner(name)})
		}
	}
	if n.role == RoleFollower {
		n.send(m.From, n.heartbeat(false))
	}
}
