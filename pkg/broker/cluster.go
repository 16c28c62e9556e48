package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/durable"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

const (
	tickEvery = 20 * time.Millisecond
	// inboxSize bounds the work queued for the cluster loop; a full inbox
	// blocks the connections feeding it, which pushes back on producers.
	inboxSize = 4096
	// maxDatagram is the largest frame sent by multicast; bigger ones go over
	// TCP to each member.
	maxDatagram = 60000
)

// clusterRepl is the broker's one path to the cluster: connections propose
// records, ask for owners, commit points and logs, and step peer messages
// through it (a lone broker is a cluster of one). The cluster.Node and
// everything marked loop-owned are owned by whoever holds mu: work runs
// under it one piece at a time, as on one goroutine. On a lone broker a
// goroutine with work (a connection with a PRODUCE) runs it itself when mu
// is free and nothing is queued, so a record on an idle broker is stored,
// committed and acknowledged by the connection's own goroutine, with no
// hand-off to another goroutine; otherwise the work waits in inbox for the
// loop goroutine, which also keeps the clock (ticks) and takes what queued
// up in bursts. Other goroutines read the snapshots it publishes.
type clusterRepl struct {
	b     *Broker
	id    cluster.NodeID
	log   zerolog.Logger
	store *topiclog.Store
	inbox chan func(now time.Time)
	quit  chan struct{} // closed when the loop has stopped taking work
	fatal chan error    // join's reason to stop the broker (a key mismatch)

	mu     sync.Mutex   // held while loop-owned state is used
	queued atomic.Int64 // work handed to inbox and not yet run: while > 0, newer work queues behind it

	// loop-owned
	node    *cluster.Node
	det     *watchedDetector // loop-owned but for its judged() snapshot
	pending map[uint64]pendingProduce
	parked  parkLot // batches refused only because a view change is under way (park.go)
	token   uint64
	book    map[cluster.NodeID]string
	links   map[cluster.NodeID]*link
	hb      *hbWatch
	// afterDrain runs at the end of the next drain: once the writes and
	// messages of the work queued before it are out (see stepThen).
	afterDrain []func()

	mcastOut *net.UDPConn // nil: no multicast, everything over TCP
	mcastIn  *net.UDPConn
	sealer   *wire.Sealer // mu-owned; nil without a key
	sendBuf  []byte       // mu-owned datagram buffer
	encBuf   []byte       // mu-owned: the body of the message being sent (see outFrame)

	commitMu  sync.Mutex
	committed map[string]*commitState

	status atomic.Pointer[cluster.Status]
	wg     sync.WaitGroup // links and the multicast reader
}

type pendingProduce struct {
	done     func(wire.ProduceAck)
	firstSeq uint64
	topic    string
	recs     []record.Record // to park and propose again if a view change fails it
}

type commitState struct {
	end     uint64
	changed chan struct{}
}

func newClusterRepl(b *Broker, store *topiclog.Store) (*clusterRepl, error) {
	id, err := loadNodeID(durable.OS, b.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r := &clusterRepl{
		b: b, id: id, store: store,
		log:       b.cfg.Logger.With().Str("component", "cluster").Logger().Hook(newFloodGuard(20, logEvery, &b.counters.logDropped)),
		inbox:     make(chan func(time.Time), inboxSize),
		quit:      make(chan struct{}),
		fatal:     make(chan error, 1),
		pending:   map[uint64]pendingProduce{},
		book:      map[cluster.NodeID]string{},
		links:     map[cluster.NodeID]*link{},
		committed: map[string]*commitState{},
	}
	r.parked.limit = b.cfg.FailureTimeout
	r.det = newWatchedDetector(cluster.NewPhiDetector(b.cfg.FollowerHBInterval, b.cfg.SuspicionTimeout, b.cfg.FailureTimeout))
	r.node, err = cluster.NewNode(cluster.Config{
		ID: id, Addr: b.cfg.Advertise.String(), Name: b.cfg.Name, Logger: r.log,
		BrokerHBInterval: b.cfg.BrokerHBInterval, FollowerHBInterval: b.cfg.FollowerHBInterval,
		SuspicionTimeout: b.cfg.SuspicionTimeout, FailureTimeout: b.cfg.FailureTimeout,
		BrokerTimeout: b.cfg.BrokerTimeout, Store: clusterStore{store},
		// REPLICATE goes over TCP (see send), so its size is bounded by
		// what a member's connection accepts, not by a datagram.
		MaxBatch: defaults.ReplicateBatchRecords, MaxBatchBytes: min(defaults.ReplicateBatchBytes, b.cfg.MaxFrame/2),
		Detector: r.det,
	}, time.Now())
	if err != nil {
		return nil, err
	}
	r.publish()
	r.hb = newHBWatch(r.log.With().Str("node", cluster.Display(id, b.cfg.Name, b.cfg.Advertise.String())).Logger(), max(b.cfg.BrokerHBInterval, b.cfg.FollowerHBInterval), b.cfg.SuspicionTimeout, b.cfg.FailureTimeout, time.Now())
	if b.cfg.Key != nil {
		r.sealer = b.cfg.Key.NewSealer(wire.RandomID())
	}
	// Multicast sockets are made here, not in Run, so that they belong to
	// the network namespace New was called in.
	iface := b.cfg.Advertise.Addr()
	if b.cfg.Multicast.IsValid() {
		in, err := udpnet.ListenMulticast(context.Background(), b.cfg.Multicast, iface)
		if err == nil {
			out, err2 := udpnet.NewSender(iface)
			if err2 == nil {
				r.mcastIn, r.mcastOut = in, out
			} else {
				in.Close()
				err = err2
			}
		}
		if err != nil {
			r.log.Warn().Err(err).Stringer("group", b.cfg.Multicast).Msg("multicast unavailable; heartbeats and REPLICATE go over TCP")
		}
	}
	return r, nil
}

// run is the cluster loop. It returns when ctx ends, after every goroutine it
// started has stopped.
func (r *clusterRepl) run(ctx context.Context) error {
	defer r.shutdown()
	if r.mcastIn != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.readMulticast(ctx)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.join(ctx)
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-r.fatal:
			return err
		case fn := <-r.inbox:
			r.mu.Lock()
			r.runQueued(fn)
			// Take what else is queued before draining output, so a burst
			// of proposals leaves as few REPLICATE batches as possible.
			for i := 0; i < 256; i++ {
				select {
				case fn = <-r.inbox:
					r.runQueued(fn)
					continue
				default:
				}
				break
			}
			r.drain()
			r.retryParked(time.Now())
			r.mu.Unlock()
		case now := <-tick.C:
			r.mu.Lock()
			r.node.Tick(now)
			r.publish()
			r.hb.tick(now, r.status.Load())
			r.drain()
			r.retryParked(now)
			r.mu.Unlock()
		case why := <-r.b.elect:
			r.mu.Lock()
			r.log.Info().Str("trigger", why).Msg("ELECTION requested")
			r.node.StartElection(time.Now())
			r.drain()
			r.mu.Unlock()
		}
	}
}

// runQueued runs work taken from inbox. Caller holds mu.
func (r *clusterRepl) runQueued(fn func(now time.Time)) {
	fn(time.Now())
	r.queued.Add(-1)
}

// do runs fn under mu: at once on the caller's goroutine when mu is free
// and no earlier work is queued (so one goroutine's work keeps its order),
// else on the loop, blocking while the inbox is full. It reports false if
// the loop has stopped. fn must not call do.
func (r *clusterRepl) do(ctx context.Context, fn func(now time.Time)) bool {
	return r.doUnless(ctx.Done(), fn)
}

// doUnless is do, giving up when stop closes.
func (r *clusterRepl) doUnless(stop <-chan struct{}, fn func(now time.Time)) bool {
	// Inline, the connection that read a message does its work and sends
	// what follows from it (a REPLICATE, its acknowledgement, the
	// producer's answer) with no hand-off to the loop's goroutine. On the
	// path of one record at a time through three brokers those hand-offs
	// were three per record, each waiting tens of microseconds to be
	// scheduled (go tool trace -pprof=sched); measured with the direct
	// link writes: p50 187 -> 153 µs. Under load mu is mostly taken and
	// work queues, so the loop still batches bursts.
	if r.queued.Load() == 0 && r.mu.TryLock() {
		// queued is only lowered under mu, after the work ran: zero
		// here means everything handed to inbox before has run.
		if r.queued.Load() == 0 {
			select {
			case <-r.quit:
				r.mu.Unlock()
				return false
			default:
			}
			now := time.Now()
			fn(now)
			r.drain()
			r.retryParked(now) // as the loop does: fn may have ended a freeze
			r.mu.Unlock()
			return true
		}
		r.mu.Unlock()
	}
	r.queued.Add(1)
	select {
	case r.inbox <- fn:
		return true
	case <-stop:
	case <-r.quit:
	}
	r.queued.Add(-1)
	return false
}

// call runs fn on the loop and waits for it; false if the loop has stopped.
func (r *clusterRepl) call(fn func(now time.Time)) bool {
	done := make(chan struct{})
	if !r.do(context.Background(), func(now time.Time) {
		fn(now)
		close(done)
	}) {
		return false
	}
	select {
	case <-done:
		return true
	case <-r.quit:
		return false
	}
}

func (r *clusterRepl) publish() {
	s := r.node.Status()
	r.status.Store(&s)
	r.b.watch.observe(&s, time.Now())
}

// drain hands the node's output to storage, the network, the producers and
// the subscriptions, in the order of etcd raft's Ready: the writes first,
// here on the goroutine that holds mu (no hand-off, and the records are the
// proposal's own, not copies); the outcome back to the node (Advance); the
// messages only if every write succeeded (a REPLICATE_ACK, a REPLICATE, a
// STATE_EXCHANGE answer may rest on them); acknowledgements and commit
// points either way (the node counts those over writes already made). Then
// again while the node has more: the acknowledgements the writes made
// possible. Caller holds mu.
func (r *clusterRepl) drain() {
	for {
		rd := r.node.Ready()
		errs := cluster.ApplyWrites(rd.Writes)
		r.node.Advance(errs)
		if errs != nil {
			rd.Messages = nil
		}
		r.deliver(rd)
		if !r.node.HasReady() {
			break
		}
	}
	for i, f := range r.afterDrain {
		f()
		r.afterDrain[i] = nil
	}
	r.afterDrain = r.afterDrain[:0]
}

// deliver hands one Ready's output (its writes applied) to the producers,
// the network and the subscriptions. Acknowledgements go first: they rest on
// writes of earlier Readies only (the node counts applied writes), and a
// producer's answer should not wait behind writes to the peers, each of
// which on a bridge costs the sender the receiver's network stack too.
func (r *clusterRepl) deliver(rd cluster.Ready) {
	if rd.Fatal != nil {
		select {
		case r.fatal <- fmt.Errorf("cluster protocol stopped: %w", rd.Fatal):
		default:
		}
	}
	if rd.View != nil {
		for _, m := range rd.View.Members {
			r.book[m.ID] = m.Addr
		}
		r.dropLinks(rd.View)
		r.publish()
	}
	for _, a := range rd.Acks {
		p, ok := r.pending[a.Token]
		if !ok {
			continue
		}
		delete(r.pending, a.Token)
		if errors.Is(a.Err, cluster.ErrFrozen) {
			r.park(parkedProduce{topic: p.topic, recs: p.recs, done: p.done, first: p.firstSeq, since: time.Now()})
			continue
		}
		ack := wire.ProduceAck{Topic: a.Topic, FirstSeq: p.firstSeq, Count: a.Count, BaseOffset: a.BaseOffset, Duplicates: a.Duplicates}
		if a.Err != nil {
			ack.Code, ack.Message, ack.Redirect = errCode(a.Err)
		}
		p.done(ack)
	}
	for _, env := range rd.Messages {
		r.send(env)
	}
	for _, c := range rd.Committed {
		r.setCommitted(c.Topic, c.Committed)
	}
}

// errCode maps a cluster error to what a client is told.
func errCode(err error) (wire.ErrCode, string, string) {
	var no *cluster.NotOwnerError
	switch {
	case errors.As(err, &no):
		return wire.ErrNotOwner, "topic is owned by another broker", no.Owner.Addr
	case errors.Is(err, cluster.ErrFrozen):
		return wire.ErrBusy, "view change in progress", ""
	case errors.Is(err, cluster.ErrOutOfOrder):
		return wire.ErrBusy, "records out of order; resend from the oldest unacknowledged", ""
	case errors.Is(err, cluster.ErrNoQuorum):
		return wire.ErrNoQuorum, "no majority of the cluster reachable", ""
	}
	return wire.ErrInternal, err.Error(), ""
}

func (r *clusterRepl) setCommitted(topic string, end uint64) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	cs := r.commitStateLocked(topic)
	if end > cs.end {
		cs.end = end
		close(cs.changed)
		cs.changed = make(chan struct{})
	}
}

func (r *clusterRepl) commitStateLocked(topic string) *commitState {
	cs, ok := r.committed[topic]
	if !ok {
		cs = &commitState{changed: make(chan struct{})}
		r.committed[topic] = cs
	}
	return cs
}

// Committed returns the exclusive end of topic's committed prefix and a
// channel closed when it next moves.
func (r *clusterRepl) Committed(topic string) (uint64, <-chan struct{}) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	cs := r.commitStateLocked(topic)
	return cs.end, cs.changed
}

// Log returns the topic's log, creating the topic on first use.
func (r *clusterRepl) Log(topic string) (*topiclog.Log, error) { return r.store.Topic(topic) }

// Propose stores recs (de-duplicated by producer id and sequence): the node
// assigns offsets, replicates, and acknowledges once a majority of the view
// stores the records (a lone broker is a cluster of one). done is called
// exactly once, possibly from another goroutine, when they are committed or
// have failed.
func (r *clusterRepl) Propose(topic, producerID string, recs []record.Record, done func(wire.ProduceAck)) {
	for i := range recs {
		if recs[i].ProducerID == "" {
			recs[i].ProducerID = producerID
		}
	}
	var first uint64
	if len(recs) > 0 {
		first = recs[0].Seq
	}
	ok := r.do(context.Background(), func(now time.Time) {
		p := parkedProduce{topic: topic, recs: recs, done: done, first: first, since: now}
		if r.parked.holds(topic) {
			r.park(p) // behind the batches parked before it
			return
		}
		switch err := r.propose(now, p); {
		case errors.Is(err, cluster.ErrFrozen):
			r.park(p)
		case err != nil:
			done(parkRefusal(p, err))
		}
	})
	if !ok {
		done(wire.ProduceAck{Topic: topic, FirstSeq: first, Code: wire.ErrBusy, Message: "broker shutting down"})
	}
}

// propose hands p to the node; on success its acknowledgement is pending.
func (r *clusterRepl) propose(now time.Time, p parkedProduce) error {
	r.token++
	tok := r.token
	if err := r.node.Propose(now, p.topic, p.recs, tok); err != nil {
		return err
	}
	r.pending[tok] = pendingProduce{done: p.done, firstSeq: p.first, topic: p.topic, recs: p.recs}
	return nil
}

// park keeps p until the node takes writes again (see park.go).
func (r *clusterRepl) park(p parkedProduce) {
	r.b.counters.parked.Add(1)
	r.parked.add(p)
}

// retryParked proposes parked batches again, and drains what that produced.
// Caller holds mu, on the loop.
func (r *clusterRepl) retryParked(now time.Time) {
	if r.parked.retry(now, func(p parkedProduce) error { return r.propose(now, p) }) {
		r.drain()
	}
}

// Owner says which broker serves topic's clients: addr is its address, self
// whether it is this broker, known false while nobody is (an election or
// recovery is under way).
func (r *clusterRepl) Owner(topic string) (addr string, self, known bool) {
	var m cluster.Member
	if !r.call(func(time.Time) { m, known = r.node.Owner(topic) }) {
		return "", false, false
	}
	return m.Addr, m.ID == r.id, known
}

// step hands a message from a peer to the node.
func (r *clusterRepl) step(m cluster.Message) { r.stepThen(m, nil) }

// stepThen is step, calling after (on the loop) once the node's output for
// m — its writes and messages — is out, so nothing the node was given
// with m is used any more (a REPLICATE's records, for their connection to
// decode the next one into). after is not called if the loop has stopped.
func (r *clusterRepl) stepThen(m cluster.Message, after func()) {
	r.do(context.Background(), func(now time.Time) {
		if after != nil {
			r.afterDrain = append(r.afterDrain, after)
		}
		switch m := m.(type) {
		case *cluster.Heartbeat:
			r.learn(m.From, m.Addr)
			r.heardHeartbeat(m, now)
		case *cluster.BrokerJoin:
			r.learn(m.From, m.Addr)
		case *cluster.StateExchange:
			r.learn(m.From, m.Addr)
		case *cluster.BrokerJoinResponse:
			r.learn(m.Leader.ID, m.Leader.Addr)
		case *cluster.Election:
			r.learn(m.From, m.Addr)
		}
		r.node.Step(now, m)
	})
}

func (r *clusterRepl) learn(id cluster.NodeID, addr string) {
	if id != 0 && id != r.id && addr != "" {
		if old, ok := r.book[id]; ok && old != addr {
			if l := r.links[id]; l != nil {
				l.stop()
				delete(r.links, id)
			}
		}
		r.book[id] = addr
	}
}

// send delivers one envelope: a REPLICATE over each member's TCP link, any
// other message to the view by multicast when it fits a datagram, else over
// the links too; unicast over the member's TCP link.
//
// REPLICATE leaves the group because of what it cost there (three brokers
// on a bridge, 100-byte records): a 48 KB datagram leaves as 33 IP
// fragments, each forwarded, looped back and reassembled per receiver in
// the sender's sendto — a third of the owner's CPU — and the loss of one
// fragment loses the batch (a gap, then a FETCH). A TCP link carries the
// same batch as a few offloaded segments, loses nothing short of the
// connection, and keeps a topic's REPLICATEs to a member in order (a small
// one multicast beside a big one on TCP could overtake it: a spurious gap).
// Batched throughput rose from 0.95-0.99 M to 1.49 M records/s, and a
// one-at-a-time acknowledgement did not slow (p50 81-94 µs before, 88
// after): the link's hand-off costs what the multicast round did.
func (r *clusterRepl) send(env cluster.Envelope) {
	if _, ok := env.Msg.(*cluster.Replicate); ok && env.To == 0 && r.alone() {
		// A view of one has nobody to replicate to: a broker outside the
		// view ignores REPLICATE and catches up by STATE_EXCHANGE when it
		// joins. Skipping it saves a lone broker two datagrams sent and
		// two read back (its own, looped back) per acknowledged batch.
		return
	}
	r.sentHeartbeat(env, time.Now())
	r.encBuf = env.Msg.AppendTo(r.encBuf[:0])
	if cap(r.encBuf) > maxKeptEncBuf {
		defer func() { r.encBuf = nil }()
	}
	f := wire.Frame{Type: env.Msg.Type(), Body: r.encBuf}
	out := &outFrame{f: f}
	if env.To != 0 {
		r.unicast(env.To, out)
		return
	}
	if r.mcastOut != nil && viaMulticast(env.Msg, len(f.Body)) {
		if r.sealer != nil {
			r.sendBuf = r.sealer.AppendFrame(r.sendBuf[:0], f)
		} else {
			r.sendBuf = wire.AppendFrame(r.sendBuf[:0], f)
		}
		if err := udpnet.Send(r.mcastOut, r.sendBuf, r.b.cfg.Multicast, time.Second); err == nil {
			return
		}
	}
	st := r.status.Load()
	for _, m := range st.View.Members {
		if m.ID != r.id {
			r.unicast(m.ID, out)
		}
	}
}

// viaMulticast says whether a message to the whole view, of body size
// bodyLen, goes to the multicast group (else over each member's link; see
// send).
func viaMulticast(m cluster.Message, bodyLen int) bool {
	if _, rep := m.(*cluster.Replicate); rep {
		return false
	}
	return bodyLen+wire.HeaderSize+wire.TrailerSize <= maxDatagram
}

// alone says the installed view has no member but this broker.
func (r *clusterRepl) alone() bool {
	ms := r.status.Load().View.Members
	return len(ms) == 1 && ms[0].ID == r.id
}

// maxKeptEncBuf bounds the encoding buffer kept between messages: one huge
// STATE_EXCHANGE answer must not pin its size.
const maxKeptEncBuf = 1 << 20

func (r *clusterRepl) unicast(to cluster.NodeID, f *outFrame) {
	if to == r.id {
		return
	}
	l, ok := r.links[to]
	if !ok {
		addr, known := r.book[to]
		if !known {
			r.log.Debug().Str("peer", cluster.IDString(to)).Msg("no address for peer; message dropped")
			return
		}
		l = newLink(r, to, addr)
		r.links[to] = l
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			l.run()
		}()
	}
	l.enqueue(f)
}

// dropLinks stops the links to brokers that left the view.
func (r *clusterRepl) dropLinks(v *cluster.View) {
	for id, l := range r.links {
		if !v.Has(id) {
			l.stop()
			delete(r.links, id)
		}
	}
}

func (r *clusterRepl) shutdown() {
	close(r.quit)
	r.mu.Lock() // work already running inline finishes first; no more starts
	defer r.mu.Unlock()
	for id, l := range r.links {
		l.stop()
		delete(r.links, id)
	}
	if r.mcastIn != nil {
		r.mcastIn.Close()
	}
	if r.mcastOut != nil {
		r.mcastOut.Close()
	}
	r.wg.Wait()
	for tok, p := range r.pending {
		delete(r.pending, tok)
		p.done(wire.ProduceAck{FirstSeq: p.firstSeq, Code: wire.ErrBusy, Message: "broker shutting down"})
	}
	for _, p := range r.parked.list {
		p.done(wire.ProduceAck{Topic: p.topic, FirstSeq: p.first, Code: wire.ErrBusy, Message: "broker shutting down"})
	}
	r.parked.list = nil
}

// readMulticast feeds heartbeats and REPLICATE batches from the group to the
// node. Garbage is counted and dropped.
func (r *clusterRepl) readMulticast(ctx context.Context) {
	stop := udpnet.CloseOnDone(ctx, r.mcastIn)
	defer stop()
	buf := make([]byte, udpnet.MaxDatagram)
	var opener *wire.Opener
	if r.b.cfg.Key != nil {
		opener = r.b.cfg.Key.NewOpener()
	}
	replay := wire.NewReplayWindow(1024)
	for {
		n, from, err := r.mcastIn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || udpnet.IsClosed(err) {
				return
			}
			continue
		}
		m, err := r.openDatagram(buf[:n], opener, replay)
		if err == errOwnDatagram {
			continue
		}
		if err != nil {
			r.b.rlog.warn("multicast").Err(err).Stringer("from", from).Int("bytes", n).Msg("multicast datagram dropped")
			continue
		}
		r.step(m)
	}
}

// errOwnDatagram is openDatagram's answer to a datagram this broker sent.
var errOwnDatagram = errors.New("own datagram")

// openDatagram decodes one multicast datagram, checking its key tag and
// sequence number when the cluster has a key. Every refusal is counted.
func (r *clusterRepl) openDatagram(b []byte, opener *wire.Opener, replay *wire.ReplayWindow) (cluster.Message, error) {
	f, n, err := wire.DecodeFrame(b, maxDatagram)
	if err == nil && n != len(b) {
		err = fmt.Errorf("%w: %d bytes after the frame", wire.ErrMalformed, len(b)-n)
	}
	if err != nil {
		r.b.counters.udpBad.Add(1)
		return nil, err
	}
	f, st, err := wire.OpenWith(opener, f)
	if err != nil {
		r.b.counters.udpAuthFailures.Add(1)
		return nil, err
	}
	if opener != nil && !replay.Accept(st) {
		r.b.counters.udpReplayed.Add(1)
		return nil, wire.ErrReplayed
	}
	if !f.Type.IsCluster() {
		r.b.counters.udpBad.Add(1)
		return nil, fmt.Errorf("%w: %v is not a cluster message", wire.ErrMalformed, f.Type)
	}
	if id, ok := cluster.Sender(f.Body); ok && id == r.id {
		// Our own, looped back by the group (brokers sharing a host need
		// the loop): the node would drop it, so skip the copy and decode
		// (a fifth of an owner's CPU under load).
		return nil, errOwnDatagram
	}
	m, err := cluster.DecodeMessage(f.Type, append([]byte(nil), f.Body...))
	if err != nil {
		r.b.counters.udpBad.Add(1)
		return nil, err
	}
	return m, nil
}

// join finds the cluster at start — an explicit leader, else a broadcast
// JOIN — and does what cluster.DecideStart says, round after round, until the node
// is a member of an installed view. The node itself takes over from there
// (heartbeats of a newer leader, redirects, refusals).
func (r *clusterRepl) join(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if r.isMember(r.status.Load()) {
			return
		}
		res, leader, err := r.findLeader(ctx)
		if errors.Is(err, wire.ErrAuth) {
			// Retrying cannot help, and leading a cluster of our own
			// beside the real one would confuse every client.
			r.fatal <- fmt.Errorf("cannot join the cluster: %w", err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		remembers := r.status.Load().View.Number > 0
		act := cluster.DecideStart(r.id, remembers, found(res, err))
		switch act {
		case cluster.StartJoin:
			r.log.Info().Str("leader", cluster.Display(leader.ID, "", leader.Addr)).Msg("cluster found; joining")
			r.do(ctx, func(now time.Time) {
				r.book[leader.ID] = leader.Addr
				r.node.Join(now, leader)
			})
		case cluster.StartBootstrap:
			r.do(ctx, func(now time.Time) { r.node.Bootstrap(now) })
		case cluster.StartElect:
			r.do(ctx, func(now time.Time) { r.node.NoLeader(now) })
		case cluster.StartWait:
			if err != nil {
				r.log.Info().Err(err).Msg("no leader to join yet; looking again")
			}
		}
		// Give what we started time to take effect (a join, an election, a
		// recovery) before looking again.
		wait := cluster.StartPause(attempt, act, r.b.cfg.FailureTimeout)
		if r.waitMember(ctx, wait) {
			return
		}
	}
}

// isMember reports whether st shows this broker in a view it belongs to.
func (r *clusterRepl) isMember(st *cluster.Status) bool {
	return st.Role != cluster.RoleJoining && st.View.Has(r.id)
}

// waitMember waits up to d for the node to become a member of a view.
func (r *clusterRepl) waitMember(ctx context.Context, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if st := r.status.Load(); r.isMember(st) && !st.Frozen {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-poll.C:
		}
	}
}

var errNoCluster = errors.New("no cluster")

// findLeader runs one round of discovery: the leader, or an error
// (errNoCluster: nobody answered) with what discovery learned on the way.
func (r *clusterRepl) findLeader(ctx context.Context) (discovery.Result, cluster.Member, error) {
	if r.b.cfg.Leader != "" {
		md, err := clientMetadata(ctx, r.b.cfg.Leader, r.b.cfg.MaxFrame, r.b.cfg.Key)
		if err != nil {
			return discovery.Result{}, cluster.Member{}, err
		}
		addr, id := md.LeaderAddr, md.LeaderID
		if id, ok := parseID(id); ok {
			if id == r.id {
				return discovery.Result{}, cluster.Member{}, errNoCluster
			}
			return discovery.Result{}, cluster.Member{ID: id, Addr: addr}, nil
		}
		if md.NodeID == idString(r.id) {
			return discovery.Result{}, cluster.Member{}, errNoCluster // LEADER_ADDRESS is our own
		}
		peer := discovery.Peer{ID: md.NodeID, View: md.View}
		return discovery.Result{Peers: []discovery.Peer{peer}},
			cluster.Member{}, fmt.Errorf("%w: %s does not know a leader yet", discovery.ErrNoLeader, r.b.cfg.Leader)
	}
	if r.b.cfg.BroadcastPort == 0 {
		return discovery.Result{}, cluster.Member{}, errNoCluster
	}
	res, err := discoverBrokers(ctx, r.b.cfg, idString(r.id), r.b.cfg.Logger)
	if err != nil {
		return res, cluster.Member{}, err
	}
	id, ok := parseID(res.LeaderID)
	if !ok {
		return res, cluster.Member{}, errors.New("discovery answer names no leader id")
	}
	if id == r.id {
		return res, cluster.Member{}, errNoCluster
	}
	return res, cluster.Member{ID: id, Addr: res.LeaderAddr}, nil
}
