package broker

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// A view change freezes the node for a few round trips: batches waiting for
// their commit fail, and new ones are refused, with cluster.ErrFrozen. Told
// BUSY, a client ends its session, backs off (100 ms and more) and
// reconnects — so a view change of 10 ms cost every producer hundreds of
// milliseconds, on every topic, moved or not. Instead the broker parks such
// a batch and proposes it again as soon as the node takes writes: the
// client only sees a later acknowledgement. Resending is what the client
// would have done (records are de-duplicated by producer id and sequence),
// in the same order. A topic that moved is answered with its redirect; a
// batch parked longer than the limit (an election that drags on) is
// answered BUSY as before.

// parkedProduce is a batch waiting for the node to take writes again.
type parkedProduce struct {
	topic string
	recs  []record.Record
	done  func(wire.ProduceAck)
	first uint64 // the batch's first sequence number, for the acknowledgement
	since time.Time
}

// parkLot holds parked batches. It is owned by the cluster loop.
type parkLot struct {
	list  []parkedProduce
	limit time.Duration
}

// holds reports whether a batch of topic is parked: a later one must queue
// behind it, or it would overtake it.
func (l *parkLot) holds(topic string) bool {
	for i := range l.list {
		if l.list[i].topic == topic {
			return true
		}
	}
	return false
}

func (l *parkLot) add(p parkedProduce) { l.list = append(l.list, p) }

// retry offers every parked batch to propose, per topic in producer and
// sequence order, and reports whether any was proposed or answered. A
// batch refused as frozen stays parked, and so do the later ones of its
// topic; one parked longer than the limit is answered BUSY; any other
// refusal (a redirect) is answered.
func (l *parkLot) retry(now time.Time, propose func(p parkedProduce) error) (moved bool) {
	if len(l.list) == 0 {
		return false
	}
	slices.SortStableFunc(l.list, func(a, b parkedProduce) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		if c := strings.Compare(producerOf(a), producerOf(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	})
	keep := l.list[:0]
	frozen := map[string]bool{}
	for _, p := range l.list {
		if now.Sub(p.since) >= l.limit {
			p.done(parkRefusal(p, cluster.ErrFrozen))
			moved = true
			continue
		}
		if frozen[p.topic] {
			keep = append(keep, p)
			continue
		}
		err := propose(p)
		switch {
		case errors.Is(err, cluster.ErrFrozen):
			frozen[p.topic] = true
			keep = append(keep, p)
		case err != nil:
			p.done(parkRefusal(p, err))
			moved = true
		default:
			moved = true
		}
	}
	clear(l.list[len(keep):])
	l.list = keep
	return moved
}

func producerOf(p parkedProduce) string {
	if len(p.recs) == 0 {
		return ""
	}
	return p.recs[0].ProducerID
}

// parkRefusal is the acknowledgement that refuses p with err.
func parkRefusal(p parkedProduce, err error) wire.ProduceAck {
	ack := wire.ProduceAck{Topic: p.topic, FirstSeq: p.first, Count: uint32(len(p.recs))}
	ack.Code, ack.Message, ack.Redirect = errCode(err)
	return ack
}
