package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/groups"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// A consumer group's position in a topic lives in the cluster, as records of
// the reserved offsets topic (cluster.OffsetsTopic): GroupCommitter writes
// them through the ordinary PRODUCE path (acknowledged once a majority
// stores them), LoadGroupPositions reads that topic up to its committed end
// and keeps the newest record per (group, topic).

// LoadGroupPositions reads the offsets topic from its oldest retained record
// to the committed end the broker announces, and returns the positions.
func LoadGroupPositions(ctx context.Context, o Options) (*groups.Table, error) {
	o.Role = wire.RoleConsumer
	h := &offsetsReader{}
	c := NewConsumer(o, ConsumerOptions{Topic: cluster.OffsetsTopic, From: wire.FromBeginning, MaxBatch: defaults.MaxReplyRecords})
	if err := c.Run(ctx, h); err != nil {
		return nil, err
	}
	return &h.table, nil
}

// LoadGroupPosition is the group's position in topic, if it has one.
func LoadGroupPosition(ctx context.Context, o Options, group, topic string) (groups.Entry, bool, error) {
	t, err := LoadGroupPositions(ctx, o)
	if err != nil {
		return groups.Entry{}, false, err
	}
	e, ok := t.Position(group, topic)
	if ok && groups.Expired(e, time.Now(), groups.DefaultExpiry) {
		return groups.Entry{}, false, nil
	}
	return e, ok, nil
}

// offsetsReader applies the offsets topic up to the committed end seen at
// the first subscription.
type offsetsReader struct {
	table groups.Table
	end   uint64
	known bool
}

func (h *offsetsReader) Start(next, committed uint64) error {
	if !h.known {
		h.end, h.known = committed, true
	}
	if next >= h.end {
		return ErrStop
	}
	return nil
}

func (h *offsetsReader) Records(recs []record.Record) error {
	for i := range recs {
		if recs[i].Offset >= h.end {
			return ErrStop
		}
		h.table.Apply(&recs[i])
	}
	if len(recs) > 0 && recs[len(recs)-1].Offset+1 >= h.end {
		return ErrStop
	}
	return nil
}

func (h *offsetsReader) Stats(*wire.Stats) {}

// GroupCommitter stores a group's position in one topic. Ack never blocks:
// the newest position is written once the previous write is acknowledged
// (and at most every defaults.GroupAckInterval), so a fast consumer costs a few
// records a second in the offsets topic.
type GroupCommitter struct {
	p            *Producer
	group, topic string
	member       string
	interval     time.Duration

	mu      sync.Mutex
	want    uint64 // newest position acknowledged by the consumer
	have    bool
	written uint64 // newest position the cluster acknowledged
	wrote   bool
	err     error

	kick       chan struct{}
	stop       chan struct{}
	writerDone chan struct{}
	prodCancel context.CancelFunc
	prodDone   chan struct{}
}

// NewGroupCommitter starts writing the group's positions in topic with a
// producer of its own (o.ClientID + ".pos"). onFatal, if set, is called once
// if the cluster cannot be reached within the reconnect attempts.
func NewGroupCommitter(o Options, group, topic string, onFatal func(error)) *GroupCommitter {
	member := o.ClientID
	o.ClientID += ".pos"
	o.Role = wire.RoleProducer
	g := &GroupCommitter{
		p:     NewProducer(o, ProducerOptions{Topic: cluster.OffsetsTopic, MaxBatchRecords: 16, MaxInFlight: 4}),
		group: group, topic: topic, member: member, interval: defaults.GroupAckInterval,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), writerDone: make(chan struct{}), prodDone: make(chan struct{}),
	}
	pctx, cancel := context.WithCancel(context.Background())
	g.prodCancel = cancel
	go func() {
		defer close(g.prodDone)
		if err := g.p.Run(pctx); err != nil && pctx.Err() == nil {
			g.fail(err)
			if onFatal != nil {
				onFatal(err)
			}
		}
	}()
	go g.writer()
	return g
}

func (g *GroupCommitter) fail(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
}

// Ack records that every record of the topic below next was processed.
func (g *GroupCommitter) Ack(next uint64) {
	g.mu.Lock()
	g.want, g.have = next, true
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Written is the newest position the cluster acknowledged, if any.
func (g *GroupCommitter) Written() (uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.written, g.wrote
}

func (g *GroupCommitter) writer() {
	defer close(g.writerDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-g.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var last time.Time
	for {
		select {
		case <-g.stop:
			return
		case <-g.kick:
		}
		if wait := g.interval - time.Since(last); wait > 0 {
			select {
			case <-g.stop:
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		if err := g.write(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			g.fail(err)
			return
		}
	}
}

// write sends the newest position unless the cluster has it, and waits for
// its acknowledgement.
func (g *GroupCommitter) write(ctx context.Context) error {
	g.mu.Lock()
	want, have, done := g.want, g.have, g.wrote && g.written == g.want
	g.mu.Unlock()
	if !have || done {
		return nil
	}
	pos := wire.GroupPosition{Kind: wire.GroupCommit, Group: g.group, Topic: g.topic, Next: want,
		At: time.Now().UnixNano(), Member: g.member}
	if err := g.p.Send(ctx, pos.Marshal()); err != nil {
		return err
	}
	if err := g.p.Flush(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	g.written, g.wrote = want, true
	g.mu.Unlock()
	return nil
}

// Close writes the newest position, waits up to timeout for the cluster to
// acknowledge it, and stops. It returns why the position may not be stored.
func (g *GroupCommitter) Close(timeout time.Duration) error {
	close(g.stop)
	<-g.writerDone
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := g.write(ctx)
	g.prodCancel()
	<-g.prodDone
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil && !errors.Is(g.err, context.Canceled) {
		return g.err
	}
	return err
}
