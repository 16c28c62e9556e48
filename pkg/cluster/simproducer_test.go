package cluster

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/logstream/logstream/pkg/client/pipeline"
	"github.com/logstream/logstream/pkg/record"
)

// The simulation's producers run pkg/client's producer core (package
// pipeline, the state machine pkg/client's Producer runs over TCP), because
// the brokers' de-duplication is only as good as its worst client schedule:
// up to maxInflight PRODUCE batches pipelined on one connection, their acks
// taken in order, and on any failure — an error ack, a redirect, an ack out
// of order, a reset connection, no answer within simAckTimeout — the
// connection is dropped and every unacknowledged record goes out again from
// the oldest, in order, with the same ProducerID/Seq, in batches whose
// boundaries need not match the first attempt's. Frames already on the wire
// when the client gives up are still handled by the broker (request).
const (
	simAckTimeout = time.Second // a paused broker never answers
	simMaxPending = 12          // unacknowledged records before creation stops
	simMaxBatch   = 3           // records per batch
	simRestart    = 400         // 1 in simRestart steps a producer process restarts (faults only)
)

type simProducer struct {
	name        string
	gen         int // process restarts
	pid, topic  string
	maxInflight int // pipelined batches, 1–4
	// pipe holds the queue, the batches in flight on conn (their tokens
	// as batch ids, their send times as At) and the acknowledged count.
	pipe    *pipeline.Pipeline
	hiSent  uint64 // highest Seq ever sent (resends are below)
	conn    simConn
	arrive  time.Time // arrival of the last frame sent on conn: TCP keeps order
	target  NodeID    // where the next connection goes
	retryAt time.Time // no new connection before
	goal    uint64    // liveness phases: the Seq that must be acknowledged
}

// simConn is one producer connection to one incarnation of a broker.
type simConn struct {
	id   uint64 // 0: not connected
	node NodeID
	inc  int
}

// simToken ties a Propose token to the connection that sent it: acks that
// come back after the client dropped that connection are never seen.
type simToken struct {
	p    *simProducer
	conn uint64
}

// newProducers creates two producers per topic, each with its own pipeline
// depth, first connecting to different nodes.
func (r *simRun) newProducers(topics []string) {
	n := len(r.s.ids)
	for i := range 2 * len(topics) {
		name := fmt.Sprintf("p%d", i)
		p := &simProducer{name: name, pid: name, topic: topics[i%len(topics)],
			maxInflight: 1 + r.s.rng.IntN(4), target: NodeID(1 + i%n)}
		p.pipe = pipeline.New(simMaxPending, p.maxInflight)
		r.producers = append(r.producers, p)
	}
}

// setGoal asks every producer to get what it created so far plus extra more
// records acknowledged; produce(false) creates only up to the goal.
func (r *simRun) setGoal(extra uint64) {
	for _, p := range r.producers {
		p.goal = p.pipe.NextSeq() - 1 + extra
	}
}

// allDone: every producer reached its goal.
func (r *simRun) allDone() bool {
	for _, p := range r.producers {
		if p.pipe.Acked() < p.goal {
			return false
		}
	}
	return true
}

// produce lets every producer act once: create records (always when create,
// else up to its goal), notice a dead connection or a missing ack, connect,
// and send what is unsent while the pipeline has room.
func (r *simRun) produce(create bool) {
	s := r.s
	for _, p := range r.producers {
		if create && s.rng.IntN(simRestart) == 0 {
			r.restartProducer(p)
		}
		if (create || p.pipe.NextSeq() <= p.goal) && !p.pipe.Full() && s.rng.IntN(2) == 0 {
			k := 1 + s.rng.IntN(3)
			if !create {
				k = min(k, int(p.goal-p.pipe.NextSeq()+1))
			}
			for range k {
				p.pipe.Add(record.Record{Timestamp: s.now.UnixNano(), ProducerID: p.pid,
					Payload: fmt.Appendf(nil, "%s-%d", p.pid, p.pipe.NextSeq())})
			}
		}
		if p.conn.id != 0 {
			sn := s.nodes[p.conn.node]
			oldest, waiting := p.pipe.Oldest()
			switch {
			case !sn.up || sn.inc != p.conn.inc:
				// The broker died: the kernel resets the connection.
				r.disconnect(p, "connection reset", 0, 0)
			case waiting && s.now.Sub(time.Unix(0, oldest.At)) >= simAckTimeout:
				r.disconnect(p, "no ack", 0, 0)
			}
		}
		if p.conn.id == 0 {
			if p.pipe.Pending() == 0 || s.now.Before(p.retryAt) {
				continue
			}
			if r.connect(p); p.conn.id == 0 {
				continue // nobody to connect to
			}
		}
		r.send(p)
	}
}

// restartProducer plays a producer process that exits and starts again: a
// new ProducerID (pkg/client.NewClientID), Seq from 1, its unacknowledged
// records abandoned. The brokers meet a new producer on a log retention may
// already have trimmed.
func (r *simRun) restartProducer(p *simProducer) {
	r.stats.ProducerRestarts++
	p.gen++
	old := p.pid
	p.pid = fmt.Sprintf("%s.%d", p.name, p.gen)
	p.conn, p.pipe = simConn{}, pipeline.New(simMaxPending, p.maxInflight)
	p.hiSent, p.goal = 0, 0
	p.target = r.s.ids[r.s.rng.IntN(len(r.s.ids))]
	r.s.logf("producer %s restarts as %s", old, p.pid)
}

// connect opens a connection to the target, or to a random live broker when
// the target refuses (it is down). A paused broker accepts: only the ack
// timeout tells.
func (r *simRun) connect(p *simProducer) {
	s := r.s
	sn := s.nodes[p.target]
	if sn == nil || !sn.up {
		up := s.up()
		if len(up) == 0 {
			return // every broker is down: try again later
		}
		sn = up[s.rng.IntN(len(up))]
		p.target = sn.id
	}
	r.nextConn++
	p.conn = simConn{id: r.nextConn, node: sn.id, inc: sn.inc}
	p.arrive = s.now
	p.pipe.Reset()
}

// send pipelines batches of unsent records, each arriving after a random
// network delay but never before the one sent ahead of it.
func (r *simRun) send(p *simProducer) {
	s := r.s
	for p.pipe.CanSend() {
		k := min(1+s.rng.IntN(simMaxBatch), p.pipe.Unsent())
		if p.pipe.InFlight() > 0 {
			r.stats.Pipelined++
		}
		r.nextToken++
		token, conn, topic := r.nextToken, p.conn.id, p.topic
		b, _ := p.pipe.Next(token, s.now.UnixNano(), k, math.MaxInt)
		recs := b.Records
		for _, rec := range recs {
			if rec.Seq <= p.hiSent {
				r.stats.Resent++
			}
			p.hiSent = max(p.hiSent, rec.Seq)
		}
		r.tokens[token] = simToken{p: p, conn: conn}
		d := s.minDelay + time.Duration(s.rng.Int64N(int64(s.maxDelay-s.minDelay)+1))
		if at := s.now.Add(d); at.After(p.arrive) {
			p.arrive = at
		}
		s.request(p.conn.node, p.conn.inc, p.arrive, func(dst *simNode) {
			if err := dst.node.Propose(s.now, topic, slices.Clone(recs), token); err != nil {
				r.refused(p, conn, token, err)
			}
		})
	}
}

// refused handles a Propose that failed at once (the broker's error ack).
func (r *simRun) refused(p *simProducer, conn, token uint64, err error) {
	delete(r.tokens, token)
	if errors.Is(err, ErrOutOfOrder) {
		r.stats.OutOfOrder++
	}
	if p.conn.id != conn {
		return // the client already dropped that connection
	}
	var noe *NotOwnerError
	if errors.As(err, &noe) && noe.Owner.ID != 0 {
		r.stats.Redirects++
		r.disconnect(p, "redirect", 0, noe.Owner.ID)
		return
	}
	r.disconnect(p, err.Error(), 50*time.Millisecond, p.conn.node)
}

// disconnect drops the connection: nothing in flight will be acknowledged
// on it, everything unacknowledged goes out again on the next one (to to,
// or to a random broker when 0; sometimes another broker on a retry, as a
// client with several bootstrap addresses may).
func (r *simRun) disconnect(p *simProducer, why string, wait time.Duration, to NodeID) {
	s := r.s
	s.logf("producer %s drops its connection to %d (%s) with %d batches in flight, %d records unacknowledged", p.pid, p.conn.node, why, p.pipe.InFlight(), p.pipe.Pending())
	r.stats.Reconnects++
	if to == 0 || (wait > 0 && s.rng.IntN(4) == 0) {
		to = s.ids[s.rng.IntN(len(s.ids))]
	}
	p.conn, p.target = simConn{}, to
	p.pipe.Reset()
	p.retryAt = s.now.Add(wait)
}

// onAck takes one Ack from a node's Ready: in order on the producer's
// current connection, or the client drops the connection and resends.
func (r *simRun) onAck(sn *simNode, a Ack) {
	tk, ok := r.tokens[a.Token]
	if !ok {
		r.failf("ack for unknown token %d (node %d)", a.Token, sn.id)
		return
	}
	delete(r.tokens, a.Token)
	p := tk.p
	if tk.conn != p.conn.id {
		r.stats.StaleAcks++
		return // its connection is gone
	}
	if a.Err != nil {
		r.stats.FailedAcks++
		r.disconnect(p, a.Err.Error(), 20*time.Millisecond, p.conn.node)
		return
	}
	// The broker's Ack carries the token only; the client's PRODUCE_ACK
	// names the batch's first Seq and count, which the broker takes from the
	// batch it was sent, so the oldest batch's own are what it would say.
	oldest, ok := p.pipe.Oldest()
	if !ok || oldest.ID != a.Token {
		r.stats.AcksOutOfOrder++
		r.disconnect(p, "ack out of order", 0, p.conn.node)
		return
	}
	b, err := p.pipe.Ack(a.Token, oldest.FirstSeq(), len(oldest.Records))
	if err != nil {
		r.failf("sim: producer %s: %v", p.pid, err)
		return
	}
	r.checkAck(sn, a, b.Records)
}

// String is what a failing run prints for a producer (sim_test.go).
func (p simProducer) String() string {
	return fmt.Sprintf("{pid:%s topic:%s conn:%+v target:%d next:%d pending:%d unsent:%d inflight:%d acked:%d goal:%d hiSent:%d}",
		p.pid, p.topic, p.conn, p.target, p.pipe.NextSeq(), p.pipe.Pending(), p.pipe.Unsent(), p.pipe.InFlight(), p.pipe.Acked(), p.goal, p.hiSent)
}
