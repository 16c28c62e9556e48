package cluster

import (
	"errors"
	"fmt"
	"slices"

	"github.com/logstream/logstream/pkg/record"
)

// The storage boundary. The node never writes to a Log: each topic's Log
// (and the node's own StateTopic) is wrapped in a stagedLog that records
// every write in the node's pending Ready.Writes and answers the node's
// reads as if the writes were made. The runtime applies the list in order
// (ApplyWrites), sends the Ready's messages only if every write succeeded,
// and reports back with Node.Advance, which drops the staged overlay (the
// store now says the same, or, after a failure, is the truth the node rolls
// back to). Acknowledgements and commit points are counted over applied
// writes only (stagedLog.Durable), so they never wait for, nor depend on,
// the writes of the Ready that carries them.

// WriteOp names one kind of storage write.
type WriteOp uint8

const (
	WriteAppend         WriteOp = iota + 1 // the owner's new records; offsets were assigned by the node
	WriteAppendAt                          // a replica's records, at their offsets
	WriteTruncate                          // drop records at offsets >= Offset (recovery)
	WriteReset                             // drop every record, continue empty at Offset (a skip past the source's retention)
	WriteMeta                              // the node's state (StateTopic) or a topic's epoch history
	WriteRetentionFloor                    // retention may not remove offsets >= Offset
	WriteRepair                            // records a replica holds intact, written into a hole
)

func (op WriteOp) String() string {
	switch op {
	case WriteAppend:
		return "append"
	case WriteAppendAt:
		return "replica append"
	case WriteTruncate:
		return "truncation"
	case WriteReset:
		return "reset"
	case WriteMeta:
		return "meta"
	case WriteRetentionFloor:
		return "retention floor"
	case WriteRepair:
		return "repair"
	}
	return "unknown write"
}

// Write is one storage write the node asks for. Records and Meta belong to
// the node until Advance: the runtime must not change or keep them.
type Write struct {
	Topic   string
	Op      WriteOp
	Records []record.Record // Append, AppendAt, Repair: offsets already set
	Offset  uint64          // Truncate: the new end; Reset: the new start; RetentionFloor: the floor
	Meta    []byte

	log *stagedLog // the topic's log, whose store Log the write goes to
}

// kind says what rests on the write (see storage.go).
func (w *Write) kind() writeKind {
	switch w.Op {
	case WriteAppend, WriteAppendAt, WriteRepair, WriteRetentionFloor:
		return dataWrite
	}
	return promiseWrite
}

func (w *Write) what() string {
	return fmt.Sprintf("%s of %s", w.Op, w.Topic)
}

// apply makes the write on the store's log.
func (w *Write) apply() error {
	l := w.log.Log
	switch w.Op {
	case WriteAppend:
		want := w.Records[0].Offset
		first, err := l.Append(w.Records)
		if err == nil && first != want {
			// The log is not what the node believed: nothing can be undone.
			return fmt.Errorf("%w: records staged at offset %d were appended at %d", ErrStorageUncertain, want, first)
		}
		return err
	case WriteAppendAt:
		return l.AppendAt(w.Records)
	case WriteTruncate:
		return l.TruncateTo(w.Offset)
	case WriteReset:
		return l.Reset(w.Offset)
	case WriteMeta:
		return l.SetMeta(w.Meta)
	case WriteRetentionFloor:
		return l.SetRetentionFloor(w.Offset)
	case WriteRepair:
		return l.RepairRange(w.Records)
	}
	return fmt.Errorf("cluster: unknown write %d", w.Op)
}

// ErrWriteSkipped is reported for a write ApplyWrites did not attempt: an
// earlier write of the same topic failed (the later ones were staged on
// top of it), or a failure stopped the node.
var ErrWriteSkipped = errors.New("cluster: write skipped after an earlier failure")

// ApplyWrites makes a Ready's writes, in order, and returns nil if all
// succeeded, else each write's error (nil: made). After a clean failure
// the same topic's later writes are skipped; after a failure that stops the
// node (an uncertain write, or one the protocol's promises rest on) every
// later write is. The runtime hands the result to Node.Advance, and sends
// the Ready's messages only when it is nil.
func ApplyWrites(ws []Write) []error {
	var errs []error
	var failed []*stagedLog
	stop := false
	for i := range ws {
		w := &ws[i]
		if stop || slices.Contains(failed, w.log) {
			errs[i] = ErrWriteSkipped // errs exists: something failed before
			continue
		}
		err := w.apply()
		if err == nil {
			continue
		}
		if errs == nil {
			errs = make([]error, len(ws))
		}
		errs[i] = err
		failed = append(failed, w.log)
		stop = w.kind() == promiseWrite || errors.Is(err, ErrStorageUncertain)
	}
	return errs
}

// stagedLog is a store Log as the node sees it while writes are pending:
// reads answer as if the staged writes were made; writes are staged. The
// overlay is small — the store log's records [start, base) stay, pend
// follows (the staged records themselves, not copies) — and exists only
// between the first staged write and Advance.
type stagedLog struct {
	Log  // the store's log
	name string
	n    *Node

	staged      bool
	start, base uint64
	pend        [][]record.Record // staged records from base on, in order
	npend       uint64
	meta        []byte
	metaSet     bool
	repaired    []Range // staged repairs: no longer holes
	// grew: records were staged since the last Advance; it then counts
	// them toward the commit once written (kept past settle for that).
	grew bool
}

func (n *Node) stagedLog(l Log, name string) *stagedLog {
	return &stagedLog{Log: l, name: name, n: n}
}

// stage adds w to the node's pending writes, opening the overlay first.
func (l *stagedLog) stage(w Write) {
	if l.n.inflight != nil {
		panic("cluster: a write staged between Ready and Advance")
	}
	if !l.staged {
		l.staged = true
		l.start, l.base = l.Log.StartOffset(), l.Log.NextOffset()
		l.n.dirty = append(l.n.dirty, l)
	}
	w.Topic, w.log = l.name, l
	l.n.out.Writes = append(l.n.out.Writes, w)
}

// settle drops the overlay once the writes were applied (or failed): the
// store's log is the truth again.
func (l *stagedLog) settle() {
	clear(l.pend)
	l.staged, l.pend, l.npend, l.meta, l.metaSet, l.repaired = false, l.pend[:0], 0, nil, false, nil
}

func (l *stagedLog) NextOffset() uint64 {
	if !l.staged {
		return l.Log.NextOffset()
	}
	return l.base + l.npend
}

// Durable is the end of what is applied, or staged by a write whose failure
// stops the node (a truncation, a reset): what commits and acknowledgements
// may count.
func (l *stagedLog) Durable() uint64 {
	if !l.staged {
		return l.Log.NextOffset()
	}
	return l.base
}

func (l *stagedLog) StartOffset() uint64 {
	if !l.staged {
		return l.Log.StartOffset()
	}
	return l.start
}

func (l *stagedLog) Append(recs []record.Record) (uint64, error) {
	first := l.NextOffset()
	if len(recs) == 0 {
		return first, nil
	}
	for i := range recs {
		recs[i].Offset = first + uint64(i)
	}
	l.stage(Write{Op: WriteAppend, Records: recs})
	l.grew = true
	l.pend = append(l.pend, recs)
	l.npend += uint64(len(recs))
	return first, nil
}

func (l *stagedLog) AppendAt(recs []record.Record) error {
	next := l.NextOffset()
	for i := range recs {
		if recs[i].Offset != next+uint64(i) {
			return fmt.Errorf("cluster: %s: replica record %d has offset %d, want %d", l.name, i, recs[i].Offset, next+uint64(i))
		}
	}
	if len(recs) == 0 {
		return nil
	}
	l.stage(Write{Op: WriteAppendAt, Records: recs})
	l.grew = true
	l.pend = append(l.pend, recs)
	l.npend += uint64(len(recs))
	return nil
}

func (l *stagedLog) Read(from uint64, maxRecords, maxBytes int) ([]record.Record, error) {
	if !l.staged {
		return l.Log.Read(from, maxRecords, maxBytes)
	}
	if from < l.start || from > l.NextOffset() {
		return nil, fmt.Errorf("cluster: %s: offset %d out of range: log holds [%d, %d)", l.name, from, l.start, l.NextOffset())
	}
	if from < l.base {
		recs, err := l.Log.Read(from, maxRecords, maxBytes)
		k := 0
		for k < len(recs) && recs[k].Offset < l.base {
			k++ // a staged truncation cut the rest
		}
		return recs[:k], err
	}
	var out []record.Record
	size := 0
	for _, chunk := range l.pend {
		if len(chunk) == 0 || chunk[len(chunk)-1].Offset < from {
			continue
		}
		for _, r := range chunk {
			if r.Offset < from {
				continue
			}
			if len(out) >= maxRecords || (len(out) > 0 && size+r.Size() > maxBytes) {
				return out, nil
			}
			size += r.Size()
			out = append(out, r)
		}
	}
	return out, nil
}

func (l *stagedLog) TruncateTo(next uint64) error {
	l.stage(Write{Op: WriteTruncate, Offset: next})
	switch {
	case next >= l.NextOffset():
	case next < l.start:
		l.start, l.base = next, next
		l.dropPend(0)
		l.repaired = nil
	case next <= l.base:
		l.base = next
		l.dropPend(0)
	default:
		l.dropPend(next - l.base)
	}
	return nil
}

// dropPend keeps the first keep staged records.
func (l *stagedLog) dropPend(keep uint64) {
	var n uint64
	for i, chunk := range l.pend {
		if n+uint64(len(chunk)) > keep {
			l.pend[i] = chunk[:keep-n]
			clear(l.pend[i+1:])
			l.pend = l.pend[:i+1]
			break
		}
		n += uint64(len(chunk))
	}
	l.npend = keep
}

func (l *stagedLog) Reset(start uint64) error {
	if start < l.NextOffset() {
		return fmt.Errorf("cluster: %s: reset to %d below the next offset %d", l.name, start, l.NextOffset())
	}
	l.stage(Write{Op: WriteReset, Offset: start})
	l.start, l.base = start, start
	l.dropPend(0)
	l.repaired = nil
	return nil
}

func (l *stagedLog) SetRetentionFloor(floor uint64) error {
	l.stage(Write{Op: WriteRetentionFloor, Offset: floor})
	return nil
}

func (l *stagedLog) Meta() []byte {
	if l.metaSet {
		return l.meta
	}
	return l.Log.Meta()
}

func (l *stagedLog) SetMeta(b []byte) error {
	l.stage(Write{Op: WriteMeta, Meta: b})
	l.meta, l.metaSet = b, true
	return nil
}

// Holes are the store log's holes within what stays, less staged repairs.
func (l *stagedLog) Holes() []Range {
	hs := l.Log.Holes()
	if !l.staged {
		return hs
	}
	var out []Range
	for _, h := range hs {
		h.From, h.To = max(h.From, l.start), min(h.To, l.base)
		out = appendUnrepaired(out, h, l.repaired)
	}
	return out
}

// appendUnrepaired appends the parts of h no range of done covers.
func appendUnrepaired(out []Range, h Range, done []Range) []Range {
	for _, d := range done {
		if h.From >= h.To {
			return out
		}
		if d.To <= h.From || d.From >= h.To {
			continue
		}
		if d.From > h.From {
			out = appendUnrepaired(out, Range{h.From, d.From}, done)
		}
		h.From = d.To
	}
	if h.From < h.To {
		out = append(out, h)
	}
	return out
}

func (l *stagedLog) RepairRange(recs []record.Record) error {
	if len(recs) == 0 {
		return nil
	}
	from, to := recs[0].Offset, recs[len(recs)-1].Offset+1
	inHole := false
	for _, h := range l.Holes() {
		inHole = inHole || (from >= h.From && to <= h.To)
	}
	if !inHole || to-from != uint64(len(recs)) {
		return fmt.Errorf("cluster: %s: repair of [%d, %d), which is not within one hole", l.name, from, to)
	}
	l.stage(Write{Op: WriteRepair, Records: recs})
	l.repaired = append(l.repaired, Range{from, to})
	return nil
}
