package cluster

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/wire"
)

// simnet is the deterministic world of the simulation: a fake clock, a
// seeded random source, an in-memory network that drops, delays (and so
// reorders), duplicates and partitions, and brokers that crash and restart
// with their store. Every message goes through AppendTo/DecodeMessage, so the
// codec is exercised and no state is shared between nodes.
type simnet struct {
	rng  *rand.Rand
	now  time.Time
	cfg  Config // template: ID, Store, Logger filled per node
	logw io.Writer

	nodes map[NodeID]*simNode
	ids   []NodeID
	queue []inflight
	held  []inflight // messages that reached a paused node: delivered when it resumes
	seq   uint64
	cut   map[[2]NodeID]bool

	clusterSeq uint64 // identities drawn by nodes that bootstrap

	drop, dup   float64 // per-delivery probabilities
	silentCrash bool    // crashed nodes swallow messages instead of refusing them
	minDelay    time.Duration
	maxDelay    time.Duration

	events  []string // trace for the golden test and failure reports
	onReady func(s *simNode, rd Ready)
	// afterStep, if set, sees a node after it stepped a message and before
	// its Ready is drained: while its writes are staged.
	afterStep func(s *simNode)
}

type simNode struct {
	id       NodeID
	node     *Node
	store    *memStore
	up       bool
	paused   bool      // SIGSTOP: alive (connections succeed) but silent; no ticks, deliveries held
	inc      int       // incarnation: messages to a previous one are lost
	downAt   time.Time // when it crashed
	upAt     time.Time
	lonelyAt time.Time // since when it saw no leader (discovery)
	// book: the peers whose address this incarnation knows, as the
	// runtime's address book does (from views, heartbeats, joins). A
	// unicast to anyone else is dropped, as the runtime drops it.
	book map[NodeID]bool
}

type inflight struct {
	at       time.Time
	seq      uint64
	from, to NodeID
	inc      int
	typ      wire.Type
	body     []byte
	// call, when set, is a client's frame instead of a broker message: it
	// runs on the receiving node (see request).
	call func(dst *simNode)
}

var simLevel = zerolog.InfoLevel

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func simConfig() Config {
	return Config{
		BrokerHBInterval:   100 * time.Millisecond,
		FollowerHBInterval: 40 * time.Millisecond,
		SuspicionTimeout:   200 * time.Millisecond,
		FailureTimeout:     300 * time.Millisecond,
		BrokerTimeout:      800 * time.Millisecond,
		VirtualNodes:       16,
		MaxBatch:           32,
	}
}

func newSimnet(seed uint64, n int, logw io.Writer) *simnet {
	s := &simnet{
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: simEpoch,
		cfg: simConfig(), logw: logw, nodes: map[NodeID]*simNode{}, cut: map[[2]NodeID]bool{},
		minDelay: time.Millisecond, maxDelay: 15 * time.Millisecond,
	}
	for i := 1; i <= n; i++ {
		id := NodeID(i)
		s.ids = append(s.ids, id)
		s.nodes[id] = &simNode{id: id, store: newMemStore()}
		s.start(id)
	}
	return s
}

func (s *simnet) logf(format string, args ...any) {
	line := fmt.Sprintf("%8s ", s.now.Sub(simEpoch).Truncate(time.Millisecond)) + fmt.Sprintf(format, args...)
	s.events = append(s.events, line)
	if s.logw != nil {
		fmt.Fprintln(s.logw, "SIM", line)
	}
}

// start boots (or restarts) a node on its store.
func (s *simnet) start(id NodeID) {
	sn := s.nodes[id]
	cfg := s.cfg
	cfg.ID, cfg.Addr, cfg.Store = id, fmt.Sprintf("10.0.0.%d:7000", id), sn.store
	// Cluster identities from their own sequence, so drawing one never
	// shifts the seeded schedule.
	cfg.NewClusterID = func() uint64 {
		s.clusterSeq++
		return 0xc1c1<<48 | s.clusterSeq
	}
	cfg.Logger = zerolog.Nop()
	if s.logw != nil {
		cfg.Logger = zerolog.New(s.logw).Level(simLevel)
	}
	nd, err := NewNode(cfg, s.now)
	if err != nil {
		panic(err)
	}
	sn.node, sn.up, sn.upAt, sn.lonelyAt = nd, true, s.now, s.now
	sn.book = map[NodeID]bool{}
	sn.inc++
}

func (s *simnet) crash(id NodeID) {
	sn := s.nodes[id]
	if !sn.up {
		return
	}
	s.logf("CRASH node %d", id)
	sn.node.Ready() // output of a dead process is lost
	sn.up, sn.downAt, sn.paused = false, s.now, false
	s.held = slices.DeleteFunc(s.held, func(m inflight) bool { return m.to == id })
}

// wipe crashes id for good and starts in its place a node with an empty
// store and a new id (a broker whose data directory was replaced: its node
// id lived there). It returns the new id.
func (s *simnet) wipe(id NodeID) NodeID {
	s.crash(id)
	nid := slices.Max(slices.Collect(maps.Keys(s.nodes))) + 1
	s.logf("WIPE node %d: back empty as node %d", id, nid)
	s.ids = slices.DeleteFunc(s.ids, func(x NodeID) bool { return x == id })
	s.ids = append(s.ids, nid)
	s.nodes[nid] = &simNode{id: nid, store: newMemStore()}
	s.start(nid)
	return nid
}

func (s *simnet) restart(id NodeID) {
	if s.nodes[id].up {
		return
	}
	s.logf("RESTART node %d", id)
	s.start(id)
}

// pause stops a node as SIGSTOP does: its connections still succeed (no
// Unreachable), but it neither ticks nor handles messages until resume.
func (s *simnet) pause(id NodeID) {
	if sn := s.nodes[id]; sn.up && !sn.paused {
		s.logf("PAUSE node %d", id)
		sn.paused = true
	}
}

// resume delivers what arrived meanwhile, in arrival order, from now on.
func (s *simnet) resume(id NodeID) {
	sn := s.nodes[id]
	if !sn.paused {
		return
	}
	s.logf("RESUME node %d", id)
	sn.paused = false
	k := 0
	for _, m := range s.held {
		if m.to == id {
			m.at = s.now
			s.queue = append(s.queue, m)
		} else {
			s.held[k] = m
			k++
		}
	}
	s.held = s.held[:k]
}

func (s *simnet) partition(groups ...[]NodeID) {
	clear(s.cut)
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					s.cut[[2]NodeID{a, b}], s.cut[[2]NodeID{b, a}] = true, true
				}
			}
		}
	}
	s.logf("PARTITION %v", groups)
}

func (s *simnet) heal() {
	if len(s.cut) > 0 {
		s.logf("HEAL")
	}
	clear(s.cut)
}

func (s *simnet) up() []*simNode {
	var out []*simNode
	for _, id := range s.ids {
		if sn := s.nodes[id]; sn.up {
			out = append(out, sn)
		}
	}
	return out
}

// flush moves a node's output into the network and to the observer.
func (s *simnet) flush(sn *simNode) {
	if !sn.up {
		return
	}
	rd := sn.node.Ready()
	// The runtime's order: writes, their outcome to the node, then the
	// messages — none of them if a write failed.
	errs := sn.store.apply(rd.Writes)
	sn.node.Advance(errs)
	if errs != nil {
		s.logf("node %d: a write failed: the Ready's %d messages are not sent", sn.id, len(rd.Messages))
		rd.Messages = nil
	}
	rd.Writes = nil // the node's again
	if rd.View != nil {
		for _, id := range rd.View.IDs() {
			sn.book[id] = true
		}
	}
	for _, e := range rd.Messages {
		typ, body := e.Msg.Type(), e.Msg.AppendTo(nil)
		if e.To == 0 {
			for _, id := range s.ids {
				if id != sn.id {
					s.enqueue(sn.id, id, typ, body)
				}
			}
			continue
		}
		if !sn.book[e.To] {
			continue // no address for the peer
		}
		if dst := s.nodes[e.To]; dst == nil || !dst.up {
			// A crashed process refuses the TCP connection.
			if dst != nil && !s.silentCrash && s.rng.Float64() < 0.5 {
				sn.node.Unreachable(s.now, e.To)
			}
			continue
		}
		s.enqueue(sn.id, e.To, typ, body)
	}
	if rd.View != nil {
		s.logf("node %d installs view %d leader %d members %v", sn.id, rd.View.Number, rd.View.Leader, rd.View.IDs())
	}
	if s.onReady != nil {
		s.onReady(sn, rd)
	}
	if sn.node.HasReady() {
		s.flush(sn) // Advance or Unreachable may have produced more
	}
}

// request delivers a client's frame to node to (incarnation inc) at at. It
// rides TCP from a host outside the cluster: never dropped, duplicated or
// cut by a partition, in order when the caller keeps at non-decreasing; lost
// with the broker's incarnation; held while the broker is paused (and still
// handled when it resumes, as a real process reads what its socket buffered,
// even if the client gave up meanwhile).
func (s *simnet) request(to NodeID, inc int, at time.Time, call func(dst *simNode)) {
	s.seq++
	s.queue = append(s.queue, inflight{at: at, seq: s.seq, to: to, inc: inc, call: call})
}

func (s *simnet) enqueue(from, to NodeID, typ wire.Type, body []byte) {
	if s.cut[[2]NodeID{from, to}] || s.rng.Float64() < s.drop {
		return
	}
	copies := 1
	if s.rng.Float64() < s.dup {
		copies = 2
	}
	for range copies {
		d := s.minDelay + time.Duration(s.rng.Int64N(int64(s.maxDelay-s.minDelay)+1))
		s.seq++
		s.queue = append(s.queue, inflight{at: s.now.Add(d), seq: s.seq, from: from, to: to, inc: s.nodes[to].inc, typ: typ, body: body})
	}
}

// step advances the clock by dt: delivers due messages in time order, then
// ticks every live node.
func (s *simnet) step(dt time.Duration) {
	end := s.now.Add(dt)
	for {
		slices.SortFunc(s.queue, func(a, b inflight) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return int(a.seq - b.seq)
		})
		if len(s.queue) == 0 || s.queue[0].at.After(end) {
			break
		}
		m := s.queue[0]
		s.queue = s.queue[1:]
		if m.at.After(s.now) {
			s.now = m.at
		}
		dst := s.nodes[m.to]
		if !dst.up || dst.inc != m.inc || (m.call == nil && s.cut[[2]NodeID{m.from, m.to}]) {
			continue
		}
		if dst.paused {
			s.held = append(s.held, m)
			continue
		}
		if m.call != nil {
			m.call(dst)
			s.flush(dst)
			continue
		}
		msg, err := DecodeMessage(m.typ, m.body)
		if err != nil {
			panic(fmt.Sprintf("sim: decode of an encoded message failed: %v", err))
		}
		switch msg := msg.(type) {
		case *Heartbeat:
			dst.book[msg.From] = dst.book[msg.From] || msg.Addr != ""
		case *BrokerJoin:
			dst.book[msg.From] = dst.book[msg.From] || msg.Addr != ""
		case *StateExchange:
			dst.book[msg.From] = dst.book[msg.From] || msg.Addr != ""
		case *Election:
			dst.book[msg.From] = dst.book[msg.From] || msg.Addr != ""
		}
		dst.node.Step(s.now, msg)
		if s.afterStep != nil {
			s.afterStep(dst)
		}
		s.flush(dst)
	}
	s.now = end
	for _, sn := range s.up() {
		if sn.paused {
			continue
		}
		sn.node.Tick(s.now)
		s.flush(sn)
	}
}

// leaders returns the live nodes that believe they lead.
func (s *simnet) leaders() []*simNode {
	var out []*simNode
	for _, sn := range s.up() {
		if sn.node.role == RoleLeader {
			out = append(out, sn)
		}
	}
	return out
}

// discover plays one round of the runtime's discovery for every node that
// is not a member of an installed view, and does what the start rule
// brokers run (DecideStart) says. What the simulation models itself is the
// round: every live, unpaused broker the node is not cut off from answers,
// the leader with the newest view among them is the one found, and a
// bootstrap (the rule's answer to hearing nobody, and the fresh broker
// with the highest id's) comes only after 2·FailureTimeout without a
// reason to wait, where the runtime listens through its discovery attempts
// and start pauses (StartPause).
func (s *simnet) discover() {
	for _, sn := range s.up() {
		if sn.paused {
			continue
		}
		if sn.node.installed && sn.node.member {
			sn.lonelyAt = s.now
			continue
		}
		if sn.node.role == RoleCandidate {
			continue
		}
		var leader *simNode
		found := Found{Heard: HeardNobody}
		for _, o := range s.up() {
			if o.id == sn.id || o.paused || s.cut[[2]NodeID{sn.id, o.id}] {
				continue
			}
			if o.node.role == RoleLeader && (leader == nil || o.node.view.Number > leader.node.view.Number) {
				leader = o
			}
			found.Peers = append(found.Peers, FoundPeer{ID: o.id, View: o.node.view.Number})
		}
		switch {
		case leader != nil:
			found = Found{Heard: HeardLeader}
		case len(found.Peers) > 0:
			found.Heard = HeardNoLeader
		}
		switch DecideStart(sn.id, sn.node.view.Number > 0, found) {
		case StartJoin:
			if sn.node.joinTarget != leader.id {
				s.join(sn.id, leader.id)
				s.flush(sn)
			}
		case StartElect:
			sn.node.NoLeader(s.now)
			s.flush(sn)
		case StartWait:
			sn.lonelyAt = s.now
		case StartBootstrap:
			if s.now.Sub(sn.lonelyAt) > 2*s.cfg.FailureTimeout {
				sn.lonelyAt = s.now
				sn.node.Bootstrap(s.now)
				s.flush(sn)
			}
		}
	}
}

// join has node id join leader, whose address it learned as the runtime
// does from discovery.
func (s *simnet) join(id, leader NodeID) {
	sn := s.nodes[id]
	sn.book[leader] = true
	sn.node.Join(s.now, Member{ID: leader, Addr: s.nodes[leader].node.cfg.Addr})
}

func (s *simnet) trace() string { return strings.Join(s.events, "\n") }
