package cluster

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/wire"
)

// Node is one broker's protocol state machine. It is not safe for concurrent
// use: the runtime serialises Tick, Step, Propose and friends (one goroutine
// or one mutex) and drains Ready after each call — applying its Writes and
// calling Advance before the next call (see Ready).
type Node struct {
	cfg   Config
	log   zerolog.Logger
	id    NodeID
	det   Detector
	state *stagedLog // the reserved StateTopic: persisted view and promise

	role       Role
	detections []Detection // latest failure verdicts, for Status
	cluster    uint64      // identity of our cluster (persisted; 0: none yet)
	view       View        // latest view known (installed, or loaded from disk)
	installed  bool        // view was installed by this process
	member     bool        // installed && view has us
	promised   uint64      // highest proposal promised (persisted)
	promisedTo NodeID
	promisedAt time.Time
	active     uint64 // latest view known to be active (may commit)
	seen       uint64 // highest view/proposal number seen anywhere
	assign     map[string]TopicAssign
	ring       *hashRing
	topics     map[string]*topic

	lastHeard   map[NodeID]time.Time
	unreachable map[NodeID]time.Time // transport failures, believed for FailureTimeout

	// leader
	lastInstall *ViewInstall
	installedAt time.Time
	installAcks map[NodeID]bool
	joiners     map[NodeID]Member
	resent      map[NodeID]time.Time
	nextHB      time.Time

	// follower
	suspectLogged bool
	leaderFailed  bool
	joinTarget    NodeID
	joinAddr      string    // joinTarget's address: clients asking us are sent there
	joinSince     time.Time // when we started asking joinTarget
	nextJoin      time.Time
	leaderHolds   bool                 // our leader's last heartbeat said it holds records
	foreignAt     map[uint64]time.Time // foreign clusters seen, for rate-limited warnings
	startedAt     time.Time

	elec          election
	bootstrapping bool
	rec           *recovery

	// gaps: per producer, the lowest Seq of a batch refused (or failed)
	// lately, for producers the topic's table may have forgotten (see
	// Propose). In memory only: a restart drops the connections too.
	gaps map[gapKey]gapEntry

	now     time.Time // time of the latest call, for Status
	stopped error     // set by failStop: the node answers nothing more
	out     Ready
	changed map[string]bool

	// The storage boundary (staging.go): logs with staged writes, the
	// writes handed out by the last Ready until Advance, and whether a
	// topic that caught up should confirm the view once its label is
	// durable (see markSynced).
	dirty    []*stagedLog
	inflight []Write
	confirm  bool
}

// NewNode creates a node from its persisted state (if any) in cfg.Store. The
// node starts as a joiner: the runtime calls Bootstrap or Join once discovery
// has run.
func NewNode(cfg Config, now time.Time) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	st, err := cfg.Store.Topic(StateTopic)
	if err != nil {
		return nil, fmt.Errorf("cluster: open state: %w", err)
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger.With().Str("node", Display(cfg.ID, cfg.Name, cfg.Addr)).Str("node_id", IDString(cfg.ID)).Logger(),
		id: cfg.ID, det: cfg.Detector,
		topics: map[string]*topic{}, assign: map[string]TopicAssign{},
		lastHeard: map[NodeID]time.Time{}, unreachable: map[NodeID]time.Time{},
		installAcks: map[NodeID]bool{}, joiners: map[NodeID]Member{}, resent: map[NodeID]time.Time{},
		changed: map[string]bool{}, foreignAt: map[uint64]time.Time{}, startedAt: now,
	}
	n.state = n.stagedLog(st, StateTopic)
	if err := n.loadState(st.Meta()); err != nil {
		return nil, err
	}
	n.seen = max(n.view.Number, n.promised)
	n.ring = newHashRing(n.view.IDs(), cfg.VirtualNodes)
	n.elec.skip = map[NodeID]bool{}
	if n.view.Number > 0 {
		// The runtime learns peers' addresses from Ready().View. A broker
		// restarted while there is no leader hears no heartbeat to learn
		// them from, and without them its answers to the election and
		// STATE_EXCHANGE are dropped: a view whose majority restarted
		// could never recover.
		v := n.view.clone()
		n.out.View = &v
	}
	n.log.Info().Uint64("view", n.view.Number).Uint64("promised", n.promised).Str("cluster", ClusterName(n.cluster)).Msg("node started")
	return n, nil
}

// Node state layout in StateTopic's Meta: 'C', view, promised, promisedTo,
// active, cluster. ('N' is the same without cluster, written before
// clusters had identities.)
func (n *Node) saveState() {
	e := &wire.Enc{B: []byte{'C'}}
	encView(e, &n.view)
	e.U64(n.promised)
	e.U64(uint64(n.promisedTo))
	e.U64(n.active)
	e.U64(n.cluster)
	// Staged: the messages that rest on it go out only once it is durable
	// (Ready), and its failure stops the node (Advance).
	n.wrote(promiseWrite, n.state.SetMeta(e.B), "persisting the cluster state (view, promise)")
}

func (n *Node) loadState(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if b[0] != 'N' && b[0] != 'C' {
		return fmt.Errorf("cluster: corrupt state in %s meta", StateTopic)
	}
	d := dec{Dec: wire.NewDec(b[1:])}
	v := d.view()
	p, pt, a := d.U64(), d.id(), d.U64()
	var c uint64
	if b[0] == 'C' {
		c = d.U64()
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("cluster: corrupt state in %s meta: %w", StateTopic, err)
	}
	n.view, n.promised, n.promisedTo, n.active, n.cluster = v, p, pt, a, c
	return nil
}

// failStop stops the node after a write whose outcome is unknown, or on
// which the protocol's promises rest, failed: answering as if it had
// succeeded could lose acknowledged records. Nothing more is sent; pending
// proposals fail; Ready carries the error once and the runtime stops the
// broker with it. (A write that failed cleanly — an append the log undid,
// as on a full disk — is not this: the batch is refused and retried.)
func (n *Node) failStop(err error) {
	if n.stopped != nil {
		return
	}
	n.stopped = err
	n.log.Error().Err(err).Msg("FAIL-STOP: a write the cluster protocol depends on failed; this broker stops answering")
	n.failPending(ErrFrozen)
	n.out.Messages = nil
	n.out.Fatal = err
}

// Ready drains the pending output. If it carries Writes, the runtime
// applies them (ApplyWrites), sends the Messages only if all succeeded,
// gives the Acks and Committed points either way, and calls Advance before
// calling anything else on the node.
func (n *Node) Ready() Ready {
	if n.inflight != nil {
		panic("cluster: Ready called again before Advance")
	}
	r := n.out
	n.out = Ready{}
	r.Messages = dropCoveredAnnouncements(r.Messages)
	if len(r.Writes) > 0 {
		n.inflight = r.Writes
	} else {
		n.out.Writes, r.Writes = r.Writes, nil // keep the (empty) buffer Advance left
	}
	if len(n.changed) > 0 {
		names := make([]string, 0, len(n.changed))
		for t := range n.changed {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			r.Committed = append(r.Committed, TopicCommit{Topic: t, Committed: n.topics[t].reported})
		}
		clear(n.changed)
	}
	return r
}

// HasReady reports whether Ready has anything to hand out (Advance may
// leave more: acknowledgements the applied writes made possible).
func (n *Node) HasReady() bool {
	o := &n.out
	return len(o.Messages) > 0 || len(o.Acks) > 0 || len(o.Writes) > 0 || len(n.changed) > 0 || o.View != nil || o.Fatal != nil
}

func (n *Node) send(to NodeID, m Message) {
	if to == n.id || n.stopped != nil {
		return
	}
	m.tag().Cluster = n.cluster
	n.out.Messages = append(n.out.Messages, Envelope{To: to, Msg: m})
}

func (n *Node) multicast(m Message) {
	if n.stopped != nil {
		return
	}
	m.tag().Cluster = n.cluster
	n.out.Messages = append(n.out.Messages, Envelope{To: 0, Msg: m})
}

// frozen reports whether the node promised a newer view than it has: it then
// neither accepts nor acknowledges records until that view is installed.
func (n *Node) frozen() bool { return n.promised > n.view.Number }

// canCommit reports whether this node may acknowledge and commit in its view.
func (n *Node) canCommit() bool {
	return n.member && !n.frozen() && n.active == n.view.Number
}

func (n *Node) logClusterState(what string) {
	names := strings.Join(n.whoAll(&n.view), ",")
	n.log.Info().Uint64("view", n.view.Number).Str("leader", n.who(n.view.Leader)).Str("leader_id", IDString(n.view.Leader)).
		Str("members", names).Str("role", n.role.String()).Str("cluster", ClusterName(n.cluster)).
		Msgf("ClusterState %s: cluster=%s view=%d leader=%s members=[%s]", what, ClusterName(n.cluster), n.view.Number, n.who(n.view.Leader), names)
}

// Step processes one incoming message.
func (n *Node) Step(now time.Time, m Message) {
	if m == nil || n.stopped != nil {
		return
	}
	n.now = now
	from, view := m.header()
	if from == n.id || from == 0 {
		return
	}
	if c := m.tag().Cluster; c != 0 && n.cluster != 0 && c != n.cluster {
		n.stepForeign(now, m)
		return
	}
	n.lastHeard[from] = now
	n.det.Heard(from, now)
	delete(n.unreachable, from)
	n.seen = max(n.seen, view)
	switch m := m.(type) {
	case *Heartbeat:
		n.onHeartbeat(now, m)
	case *Election:
		n.onElection(now, m)
	case *ElectionAck:
		n.onElectionAck(m)
	case *Coordinator:
		n.onCoordinator(now, m)
	case *StateExchange:
		n.onStateExchange(now, m)
	case *StateExchangeResponse:
		n.onStateExchangeResponse(now, m)
	case *ViewInstall:
		n.onViewInstall(now, m)
	case *Replicate:
		n.onRecords(now, m.From, m.View, m.Topic, m.First, 0, m.Commit, m.Records, false)
	case *FetchResponse:
		n.onRecords(now, m.From, m.View, m.Topic, m.First, m.Start, m.Commit, m.Records, true)
	case *ReplicateAck:
		n.onReplicateAck(now, m)
	case *Fetch:
		n.onFetch(now, m)
	case *BrokerJoin:
		n.onBrokerJoin(now, m)
	case *BrokerJoinResponse:
		n.onBrokerJoinResponse(now, m)
	}
}

// Tick advances timers: heartbeats, failure detection, retransmissions.
func (n *Node) Tick(now time.Time) {
	n.now = now
	if n.stopped != nil {
		return
	}
	if n.elec.participating && n.role != RoleCandidate && now.Sub(n.elec.started) >= n.electionTimeout() {
		n.elec.participating = false // the round died; take part in the next
	}
	n.tickHop(now)
	switch n.role {
	case RoleLeader:
		n.tickLeader(now)
	case RoleFollower:
		n.tickFollower(now)
	case RoleCandidate:
		n.tickCandidate(now)
	case RoleJoining:
		n.tickJoining(now)
	}
	if n.installed && n.member {
		n.tickTopics(now)
	}
}

// Unreachable tells the node that the transport could not deliver to `to`:
// it is treated as failed at once.
func (n *Node) Unreachable(now time.Time, to NodeID) {
	n.now = now
	if to == n.id || n.isUnreachable(to) {
		return
	}
	n.unreachable[to] = now
	n.log.Info().Str("peer", n.who(to)).Msg("peer unreachable")
	switch {
	case n.elec.participating && n.elec.lastCandidate == to:
		// The candidate whose token we carry died: its token can only end
		// by reaching it, so the round would wait out an election timeout
		// (chaos: the leader and the next best broker killed 4 ms apart,
		// 3 s). Run for ourselves; a better live candidate swallows ours.
		n.log.Info().Str("candidate", n.who(to)).Msg("ELECTION candidate unreachable: running again")
		n.startRound(now, n.id, n.elec.forced)
	case n.elec.participating && n.elec.next == to:
		// Ring repair: pass the token on to the next live neighbour.
		n.forwardElection(now, n.elec.lastCandidate)
	case n.role == RoleCandidate && n.rec == nil && (n.elec.coordinator == to || (n.frozen() && n.promisedTo == to)):
		// The winner we wait for (its COORDINATOR came, or we promised its
		// STATE_EXCHANGE) died before installing a view.
		n.log.Info().Str("winner", n.who(to)).Msg("ELECTION winner unreachable before its view: new ELECTION")
		n.startElection(now)
	case n.role == RoleFollower && to == n.view.Leader:
		n.leaderFailure(now)
	}
}

func (n *Node) isUnreachable(id NodeID) bool {
	t, ok := n.unreachable[id]
	return ok && n.now.Sub(t) < n.cfg.FailureTimeout
}

// Leader returns the leader of the installed view.
func (n *Node) Leader() (Member, bool) {
	if n.view.Number == 0 || n.view.Leader == 0 {
		return Member{}, false
	}
	return n.view.Member(n.view.Leader)
}

// Owner returns the owner of topic in the current view. A broker that is
// not a member of an installed view sends clients to the leader it is
// joining (which knows the owner) rather than to an owner of a view it only
// remembers.
func (n *Node) Owner(topic string) (Member, bool) {
	if !n.installed || !n.member {
		return n.joinLeader()
	}
	id := n.ownerOf(topic)
	if id == 0 {
		return Member{}, false
	}
	return n.view.Member(id)
}

// joinLeader is the leader we are asking to join, if we know its address.
func (n *Node) joinLeader() (Member, bool) {
	if n.joinTarget == 0 || n.joinAddr == "" {
		return Member{}, false
	}
	return Member{ID: n.joinTarget, Addr: n.joinAddr}, true
}

func (n *Node) ownerOf(topic string) NodeID {
	if a, ok := n.assign[topic]; ok {
		return a.Owner
	}
	return n.ring.owner(topic)
}

// Committed returns the end of the committed prefix this node holds.
func (n *Node) Committed(topic string) uint64 {
	if t, ok := n.topics[topic]; ok {
		return t.reported
	}
	return 0
}

// Status returns a snapshot of the node's state.
func (n *Node) Status() Status {
	s := Status{ID: n.id, Cluster: n.cluster, Role: n.role, Frozen: !n.canCommit(), View: n.view.clone(), Leader: n.view.Leader}
	for _, m := range n.view.Members {
		l := Alive
		switch {
		case m.ID == n.id:
		case n.isUnreachable(m.ID):
			l = Failed
		case n.role == RoleLeader || m.ID == n.view.Leader:
			l = n.det.Status(m.ID, n.now)
		}
		s.Members = append(s.Members, MemberStatus{Member: m, Liveness: l})
	}
	names := make([]string, 0, len(n.topics))
	for name := range n.topics {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := n.topics[name]
		s.Topics = append(s.Topics, TopicStatus{Topic: name, Owner: n.ownerOf(name), Next: t.log.NextOffset(), Committed: t.reported, Synced: t.synced})
	}
	s.Detections = slices.Clone(n.detections)
	return s
}

// detected records a failure verdict for Status (the log line is the
// caller's).
func (n *Node) detected(now time.Time, id NodeID, role, verdict string) {
	m, _ := n.view.Member(id)
	m.ID = id
	if len(n.detections) == maxDetections {
		n.detections = slices.Delete(n.detections, 0, 1)
	}
	n.detections = append(n.detections, Detection{Peer: m, Role: role, Silent: now.Sub(n.lastHeard[id]), At: now, Verdict: verdict})
}
