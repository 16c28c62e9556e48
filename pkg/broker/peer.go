package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"fmt"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

const (
	// sendQueue bounds the frames queued to one client; a client that does
	// not read stalls its own subscriptions, never the broker's memory.
	sendQueue = 256
	// maxSubscriptionsPerConn bounds the streams one connection may open.
	maxSubscriptionsPerConn = 64
	writeTimeout            = 30 * time.Second
)

// peer is one TCP connection (a producer, a consumer, a logstreamctl, or a
// peer broker). Its serve goroutine owns everything below.
type peer struct {
	b        *Broker
	conn     *framed.Conn
	log      zerolog.Logger
	lastSeen atomic.Int64 // unix nanos of the last frame received
	id       atomic.Value // string: producer/consumer id once known
	role     atomic.Uint32
	kind     peerKind      // serve-owned: what the first meaningful frame said
	flight   *flightWindow // records proposed and not yet acknowledged

	subsMu    sync.Mutex
	subs      map[uint64]context.CancelFunc
	groupSubs map[uint64]*groupMember // shared-group subscriptions by correlation id (groupshare.go)

	sessions map[string]*topicSession // serve-owned: PRODUCE/CONSUME per topic, for the log

	// recycled carries acknowledged PRODUCE batches back from whoever
	// acknowledged them; serve takes them before its next Recv (see
	// produce). spareRecs is serve-owned: a records slice to decode the
	// next PRODUCE into.
	recycled  chan producedBatch
	spareRecs []record.Record
}

// recycle hands a frame's body and decoded records that nothing refers to
// any more back to serve, which reads and decodes a later frame into them;
// if some are waiting already, these are left to the collector.
func (c *peer) recycle(body []byte, recs []record.Record) {
	select {
	case c.recycled <- producedBatch{body: body, recs: recs}:
	default:
	}
}

// producedBatch is a PRODUCE's (or a REPLICATE's) body and decoded records,
// once nothing refers to them any more.
type producedBatch struct {
	body []byte
	recs []record.Record
}

// recycledQueue bounds the batches waiting to be reused by one connection;
// beyond it they are left to the collector.
const recycledQueue = 4

func (b *Broker) newClient(nc net.Conn) *peer {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &peer{
		b: b,
		conn: framed.NewWith(nc, framed.Options{MaxBody: b.cfg.MaxFrame, Queue: sendQueue,
			WriteTimeout: writeTimeout, Key: b.cfg.Key, Refuse: true}),
		log:      b.log.With().Str("peer", nc.RemoteAddr().String()).Logger(),
		subs:     map[uint64]context.CancelFunc{},
		flight:   newFlightWindow(b.cfg.MaxInFlightRecords),
		recycled: make(chan producedBatch, recycledQueue),
	}
	c.id.Store("")
	b.mu.Lock()
	b.clients[c] = struct{}{}
	b.mu.Unlock()
	return c
}

// serve reads requests until the connection ends. The subscriptions and the
// heartbeat goroutine it starts end when it returns.
func (c *peer) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		c.conn.Close()
		wg.Wait()
		c.b.mu.Lock()
		delete(c.b.clients, c)
		c.b.mu.Unlock()
		c.endSessions()
		c.log.Debug().Str("client", c.id.Load().(string)).Msg("connection closed")
	}()
	c.lastSeen.Store(time.Now().UnixNano())
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.heartbeat(ctx)
	}()
	// Slow-loris: a connection must deliver its first whole frame within
	// HandshakeTimeout; after that, silence is bounded by ClientTimeout.
	c.conn.SetReadDeadline(time.Now().Add(c.b.cfg.HandshakeTimeout))
	for first := true; ; first = false {
		select {
		case pb := <-c.recycled:
			c.conn.Recycle(pb.body)
			c.spareRecs = pb.recs[:0]
		default:
		}
		f, err := c.conn.Recv()
		if err != nil {
			c.recvFailed(ctx, err, first)
			return
		}
		if first {
			c.conn.SetReadDeadline(time.Time{})
		}
		c.lastSeen.Store(time.Now().UnixNano())
		reply, err := c.handle(ctx, f, &wg)
		if err != nil {
			reply = c.answer(f, err)
		}
		if reply != nil {
			c.reply(f.Corr, reply)
		}
	}
}

// recvFailed counts and logs why a connection's reading ended.
func (c *peer) recvFailed(ctx context.Context, err error, first bool) {
	var ne net.Error
	switch {
	case ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, framed.ErrClosed):
	case errors.Is(err, wire.ErrAuth):
		c.b.counters.authFailures.Add(1)
		c.b.rlog.warn("auth").Err(err).Stringer("peer", c.conn.RemoteAddr()).
			Msg("frame refused: the cluster key does not match; told the peer and closed its connection")
	case first && errors.As(err, &ne) && ne.Timeout():
		c.b.counters.handshakeTimeouts.Add(1)
		c.b.rlog.warn("handshake").Stringer("peer", c.conn.RemoteAddr()).Dur("timeout", c.b.cfg.HandshakeTimeout).
			Msg("connection sent no whole frame in time; dropped")
	default:
		c.b.counters.badFrames.Add(1)
		c.b.rlog.warn("bad_frame").Err(err).Stringer("peer", c.conn.RemoteAddr()).Msg("bad frame; closing connection")
	}
}

// peerKind is what a connection has shown itself to be. A connection is a
// client or a peer broker, never both: cluster messages on a client's
// connection (or client requests on a broker link) are refused.
type peerKind uint8

const (
	kindUnknown peerKind = iota
	kindClient
	kindBroker
)

// claim fixes the connection's kind on its first use and reports whether k
// agrees with it.
func (c *peer) claim(k peerKind) bool {
	if c.kind == kindUnknown {
		c.kind = k
	}
	if c.kind != k {
		c.b.counters.wrongState.Add(1)
		return false
	}
	return true
}

func (c *peer) reply(corr uint64, m wire.Message) {
	c.conn.SendMessage(m, corr) // a failed send closes the connection; serve notices
}

// replyNow is reply for callers that must not block (the cluster loop): a
// client whose queue is full is too slow to keep, so it is cut off; it will
// reconnect and resend, and de-duplication keeps that exact.
func (c *peer) replyNow(corr uint64, m wire.Message) {
	if !c.conn.TrySend(wire.Encode(m, corr)) {
		c.b.counters.slowClients.Add(1)
		c.b.rlog.warn("slow_client").Stringer("peer", c.conn.RemoteAddr()).
			Msg("client does not read its acknowledgements; closing its connection")
		c.conn.Close()
	}
}

// owned refuses, for topics served elsewhere, with where to go; nil means
// this broker serves topic.
func (c *peer) owned(topic string) error {
	addr, self, known := c.b.cluster.Owner(topic)
	switch {
	case !known:
		return refuse(wire.ErrBusy, "no owner for topic "+topic+" yet (election or recovery in progress)")
	case !self:
		return &refusal{code: wire.ErrNotOwner, msg: "topic " + topic + " is served by " + addr, redirect: addr}
	}
	return nil
}

// handle serves one request: it returns the reply to send (nil when there
// is none, or when it goes later, as a PRODUCE's acknowledgement does) or an
// error that serve turns into one (connerr.go).
func (c *peer) handle(ctx context.Context, f wire.Frame, wg *sync.WaitGroup) (wire.Message, error) {
	switch f.Type {
	case wire.TypeMetadata, wire.TypeHeartbeat:
		// Asked by clients and brokers alike.
	default:
		k := kindClient
		if f.Type.IsCluster() {
			k = kindBroker
		}
		if !c.claim(k) {
			return nil, fmt.Errorf("%v refused: this connection is a %s's", f.Type, map[peerKind]string{kindClient: "client", kindBroker: "broker"}[c.kind])
		}
	}
	switch f.Type {
	case wire.TypeProduce:
		m := wire.Produce{Records: c.spareRecs}
		c.spareRecs = nil
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		return nil, c.produce(ctx, f.Corr, &m, f.Body)
	case wire.TypeSubscribe:
		var m wire.Subscribe
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		return nil, c.subscribe(ctx, f.Corr, &m, wg)
	case wire.TypeConsume:
		var m wire.Consume
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		return c.consume(&m)
	case wire.TypeGroupAck:
		var m wire.GroupAck
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		return c.groupAck(f.Corr, &m), nil
	case wire.TypeHeartbeat:
		var m wire.Heartbeat
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		c.log.Debug().Str("client", m.NodeID).Stringer("role", m.Role).Msg("HEARTBEAT from client")
		c.identify(m.NodeID, m.Role)
		// Answer each one, so a client's hb-timeout can be shorter than
		// CLIENT_HB_INTERVAL and still never fires on a healthy but idle link.
		return c.b.heartbeatMsg(m.Seq), nil
	case wire.TypeMetadata:
		var m wire.Metadata
		if err := m.Unmarshal(f.Body); err != nil {
			return nil, err
		}
		resp := c.b.metadata()
		return &resp, nil
	case wire.TypeElectionTrigger:
		c.b.TriggerElection("request from " + c.conn.RemoteAddr().String())
		return &wire.Error{Code: wire.ErrNone, Message: "election started"}, nil
	default:
		if f.Type.IsCluster() {
			var spare []record.Record
			if f.Type == wire.TypeReplicate {
				spare, c.spareRecs = c.spareRecs, nil
			}
			m, err := cluster.DecodeMessageInto(f.Type, f.Body, spare)
			if err != nil {
				return nil, err
			}
			if rep, ok := m.(*cluster.Replicate); ok && len(rep.Records) > 0 {
				// As with PRODUCE: once the node has stored the records,
				// the body and the slice are this connection's again.
				body, recs := f.Body, rep.Records
				c.b.cluster.stepThen(m, func() { c.recycle(body, recs) })
				return nil, nil
			}
			c.b.cluster.step(m)
			return nil, nil
		}
		return nil, errors.New("unexpected message " + f.Type.String())
	}
}

func (c *peer) identify(id string, role wire.Role) {
	if id != "" && c.id.Load().(string) == "" {
		c.id.Store(id)
		c.role.Store(uint32(role))
	}
}

// produce hands m (decoded from body) to the cluster; its acknowledgement
// is sent when the cluster answers, so a nil error means no reply now. Once
// the batch is acknowledged (or refused) nothing refers to its records or
// to body any more — the cluster lets go of a batch once it is stored and
// its REPLICATE encoded, and an acknowledged batch is neither pending nor
// parked — so done hands both back (recycled) for a later PRODUCE to decode
// into: the connection then allocates nothing per batch, where the
// collector had a body of ~120 KB and a 64 KB slice of pointers to clear
// per 1000 records.
func (c *peer) produce(ctx context.Context, corr uint64, m *wire.Produce, body []byte) error {
	if err := validTopic(m.Topic); err != nil {
		return &refusal{code: wire.ErrBadRequest, msg: err.Error(), topic: m.Topic}
	}
	if m.Topic == cluster.OffsetsTopic {
		if err := checkOffsetsRecords(m.Records); err != nil {
			c.reply(corr, &wire.ProduceAck{Topic: m.Topic, Code: wire.ErrBadRequest, Message: err.Error()})
			return nil
		}
	}
	c.identify(m.ProducerID, wire.RoleProducer)
	n := len(m.Records)
	if n > 0 {
		c.b.log.Debug().Str("topic", m.Topic).Str("producer", m.ProducerID).Int("records", n).Msg("PRODUCE")
	}
	sess := c.session("PRODUCE", m.Topic, m.ProducerID)
	waited, ok := c.flight.acquire(ctx, n)
	if waited {
		c.b.counters.backpressure.Add(1)
		c.b.rlog.warn("inflight").Stringer("peer", c.conn.RemoteAddr()).Int("bound", c.b.cfg.MaxInFlightRecords).
			Msg("producer has MAX_INFLIGHT_RECORDS unacknowledged; stopped reading its connection until acknowledgements catch up")
		c.lastSeen.Store(time.Now().UnixNano()) // waiting on us is not silence
	}
	if !ok {
		return nil // shutting down
	}
	obs := c.b.cfg.Observer
	var proposed time.Time
	var size int // payload bytes, taken before the records are handed on
	if obs != nil {
		proposed, size = time.Now(), payloadBytes(m.Records)
	}
	// A lone broker (or a batch refused at once) acknowledges during
	// Propose, on this goroutine: then the answer is written from here too
	// (reply), not queued for the connection's writer from the cluster
	// loop (replyNow) — one hand-off fewer per acknowledgement.
	var inline handoff
	c.b.cluster.Propose(m.Topic, m.ProducerID, m.Records, func(ack wire.ProduceAck) {
		c.flight.release(n)
		if ack.Code == wire.ErrNone {
			c.b.counters.produced.Add(uint64(ack.Count - ack.Duplicates))
			c.b.counters.duplicates.Add(uint64(ack.Duplicates))
			sess.serve(uint64(ack.Count-ack.Duplicates), uint64(ack.Duplicates))
		} else {
			sess.refused.Add(uint64(n))
		}
		if obs != nil {
			fresh, bytes := 0, 0
			if ack.Code == wire.ErrNone {
				fresh = int(ack.Count - ack.Duplicates)
				if ack.Duplicates == 0 {
					bytes = size
				} else if ack.Count > 0 { // which ones were duplicates is not said: prorate
					bytes = size * fresh / int(ack.Count)
				}
			}
			obs.ProduceAcked(m.Topic, fresh, bytes, time.Since(proposed), ack.Code)
		}
		if m.Acks != 0 && !inline.give(ack) {
			c.replyNow(corr, &ack)
		}
		c.recycle(body, m.Records)
	})
	if ack, ok := inline.take(); ok {
		c.reply(corr, &ack)
	}
	return nil
}

// readable returns the log of a topic a client wants to read, or why not
// (bad name, served elsewhere, failure).
func (c *peer) readable(topic string) (*topiclog.Log, error) {
	if err := validTopic(topic); err != nil {
		return nil, refuse(wire.ErrBadRequest, err.Error())
	}
	if err := c.owned(topic); err != nil {
		return nil, err
	}
	log, err := c.b.cluster.Log(topic)
	if err != nil {
		return nil, refuse(wire.ErrInternal, err.Error())
	}
	return log, nil
}

func (c *peer) consume(m *wire.Consume) (wire.Message, error) {
	log, err := c.readable(m.Topic)
	if err != nil {
		return nil, err
	}
	committed, _ := c.b.cluster.Committed(m.Topic)
	resp := wire.Records{Topic: m.Topic, Committed: committed, StartOffset: log.StartOffset()}
	if m.Offset < log.StartOffset() || m.Offset > committed {
		return nil, refuse(wire.ErrOffsetOutOfRange, offsetRangeMsg(m.Offset, log.StartOffset(), committed))
	}
	max := int(min(uint64(clamp(int(m.MaxRecords), 1, defaults.MaxReplyRecords)), committed-m.Offset))
	if max > 0 {
		recs, err := log.Read(m.Offset, max, clamp(int(m.MaxBytes), 1, c.b.cfg.MaxFrame/2))
		if err != nil {
			return nil, refuse(wire.ErrInternal, err.Error())
		}
		resp.Records = committedOnly(recs, committed)
	}
	c.session("CONSUME", m.Topic, c.id.Load().(string)).serve(uint64(len(resp.Records)), 0)
	c.log.Debug().Str("topic", m.Topic).Uint64("offset", m.Offset).Int("records", len(resp.Records)).Msg("CONSUME")
	return &resp, nil
}

// heartbeat sends HEARTBEAT to the client every ClientHBInterval and drops a
// client silent for longer than ClientTimeout.
func (c *peer) heartbeat(ctx context.Context) {
	t := time.NewTicker(c.b.cfg.ClientHBInterval)
	defer t.Stop()
	check := time.NewTicker(min(c.b.cfg.ClientTimeout/4, time.Second))
	defer check.Stop()
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			if silent := time.Since(time.Unix(0, c.lastSeen.Load())); silent > c.b.cfg.ClientTimeout {
				c.b.counters.clientTimeouts.Add(1)
				c.log.Info().Str("client", c.id.Load().(string)).Dur("silent", silent).Msg("client timed out; dropping it")
				c.conn.Close()
				return
			}
		case <-t.C:
			seq++
			c.reply(0, c.b.heartbeatMsg(seq))
		}
	}
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// heartbeatMsg is the HEARTBEAT a broker sends its clients: who leads.
func (b *Broker) heartbeatMsg(seq uint64) *wire.Heartbeat {
	st := b.cluster.status.Load()
	hb := &wire.Heartbeat{NodeID: idString(st.ID), Role: wire.RoleBroker, View: st.View.Number,
		Seq: seq, UnixNano: time.Now().UnixNano()}
	if m, ok := st.View.Member(st.Leader); ok {
		hb.LeaderID, hb.LeaderAddr = idString(m.ID), m.Addr
	}
	return hb
}
