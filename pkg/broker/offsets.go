package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/groups"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// Consumer groups' positions are records of the reserved topic
// cluster.OffsetsTopic, written by consumers through the ordinary PRODUCE
// path (so replicated, committed by a majority and de-duplicated by producer
// id and sequence) and read back by them up to its committed end. The broker
// only checks what is written there, and its owner keeps live positions
// inside the retention window (compaction by refresh, below).

// checkOffsetsRecords refuses a PRODUCE to the offsets topic unless every
// record is a well-formed group position.
func checkOffsetsRecords(recs []record.Record) error {
	for i := range recs {
		if _, err := wire.UnmarshalGroupPosition(recs[i].Payload); err != nil {
			return fmt.Errorf("record %d for %s is not a group position: %v", i, cluster.OffsetsTopic, err)
		}
	}
	return nil
}

// offsetsCompactEvery is how often the offsets topic's owner looks for
// positions retention is about to remove.
var offsetsCompactEvery = time.Second // a variable for tests

// maxRefreshPerPass bounds the records one compaction pass proposes.
const maxRefreshPerPass = 256

// offsetsCompactor is loop-owned state of the compaction of the offsets
// topic: the positions table as of scanned, rebuilt after every view change
// (a view change may truncate the uncommitted tail it had read).
type offsetsCompactor struct {
	table   groups.Table
	view    uint64
	scanned uint64
	valid   bool
	batches uint64
}

// compactOffsets runs until ctx ends: with retention on, once a second the
// owner of the offsets topic writes again every live position whose record
// is in the older half of the retention window, so a position is lost to
// retention only if the group expired (groups.DefaultExpiry) or the topic
// holds more than MAX_RECORDS_PER_TOPIC/2 positions.
func (b *Broker) compactOffsets(ctx context.Context) error {
	if b.cfg.MaxRecords == 0 {
		return nil
	}
	oc := &offsetsCompactor{}
	t := time.NewTicker(offsetsCompactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			b.cluster.call(func(now time.Time) { b.cluster.compactPass(now, oc, uint64(b.cfg.MaxRecords)) })
		}
	}
}

// compactPass runs on the cluster loop, so nothing is appended to the
// offsets topic between reading its tail and proposing the refresh: a
// refresh is always the newest record of its key when it is appended.
func (r *clusterRepl) compactPass(now time.Time, oc *offsetsCompactor, keep uint64) {
	st := r.status.Load()
	if st == nil || st.Frozen {
		oc.valid = false
		return
	}
	if m, ok := r.node.Owner(cluster.OffsetsTopic); !ok || m.ID != r.id {
		oc.valid = false
		return
	}
	l, ok := r.store.Lookup(cluster.OffsetsTopic)
	if !ok {
		return
	}
	start, end := l.StartOffset(), l.NextOffset()
	if !oc.valid || oc.view != st.View.Number || end < oc.scanned || start > oc.scanned {
		*oc = offsetsCompactor{view: st.View.Number, scanned: start, valid: true, batches: oc.batches}
	}
	for oc.scanned < end {
		recs, err := l.Read(oc.scanned, 4096, 4<<20)
		if err != nil || len(recs) == 0 {
			oc.valid = false
			return
		}
		for i := range recs {
			oc.table.Apply(&recs[i])
		}
		oc.scanned = recs[len(recs)-1].Offset + 1
	}
	stale := oc.table.Stale(end, keep, now, groups.DefaultExpiry, min(maxRefreshPerPass, max(1, int(keep/4))))
	if len(stale) == 0 {
		return
	}
	oc.batches++
	pid := fmt.Sprintf("__refresh-%s-%d-%d", cluster.ShortID(r.id), now.UnixNano(), oc.batches)
	recs := make([]record.Record, len(stale))
	for i, p := range stale {
		recs[i] = record.Record{Timestamp: now.UnixNano(), ProducerID: pid, Seq: uint64(i + 1), Payload: groups.Refresh(p)}
	}
	r.token++
	tok := r.token
	if err := r.node.Propose(now, cluster.OffsetsTopic, recs, tok); err != nil {
		return // tried again at the next pass
	}
	r.pending[tok] = pendingProduce{done: func(wire.ProduceAck) {}, firstSeq: 1}
	r.log.Debug().Int("positions", len(stale)).Msg("offsets topic: positions written again ahead of retention")
}
