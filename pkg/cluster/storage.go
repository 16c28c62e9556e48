package cluster

import (
	"errors"
	"fmt"
)

// ErrStorageUncertain marks a failed write whose outcome on disk is unknown
// (a write that could not be undone, a failed fsync). A Log wraps it; any
// other error from a write means the write failed cleanly and left the log
// as it was.
var ErrStorageUncertain = errors.New("cluster: storage write of uncertain outcome")

// writeKind says what rests on a write.
type writeKind int

const (
	// dataWrite: records (an owner's append, a follower's replica, a
	// repair) and retention floors. A clean failure is answered to whoever
	// asked — the producer retries, the follower fetches again — as on a
	// full disk.
	dataWrite writeKind = iota
	// promiseWrite: the node's own state (view, promise), a topic's epoch
	// history, a truncation or reset decided by recovery. The protocol's
	// promises rest on them: any failure stops the node.
	promiseWrite
)

// wrote is the storage rule, in the one place it is decided: it reports
// whether a write succeeded and stops the node (failStop) when the
// protocol can no longer answer as if it had — never "log and carry on".
// Advance applies it to what the runtime reports; a staged write that is
// refused at once (a replica batch that does not follow the log) goes
// through it too.
func (n *Node) wrote(kind writeKind, err error, what string) bool {
	switch {
	case err == nil:
		return true
	case kind == promiseWrite || errors.Is(err, ErrStorageUncertain):
		n.failStop(fmt.Errorf("%s: %w", what, err))
	default:
		n.log.Warn().Err(err).Msgf("%s failed cleanly; refused, to be retried", what)
	}
	return false
}

// Advance takes the outcome of the last Ready's writes from the runtime
// (ApplyWrites' result: nil when all were made) and drops the staging: the
// logs answer from the store again. A write of uncertain outcome, a failed
// promise write, and a truncation or reset skipped because an earlier
// write of its topic failed stop the node. A topic whose data write failed
// cleanly is rolled back to what its log holds. Then what the applied
// writes made possible follows in the next Ready: commit points,
// acknowledgements, a view confirmation.
func (n *Node) Advance(errs []error) {
	ws := n.inflight
	if ws == nil {
		return // the last Ready had no writes: nothing to advance
	}
	n.inflight = nil
	type failure struct {
		log *stagedLog
		err error
	}
	var failed []failure
	for i := range ws {
		if errs == nil {
			break
		}
		w, err := &ws[i], errs[i]
		switch {
		case err == nil:
		case errors.Is(err, ErrWriteSkipped):
			// Skipped after a clean failure of its topic: a skipped
			// history or floor is restored by the roll-back (it reads the
			// log's), a skipped truncation, reset or node state is a
			// decision already acted on.
			if w.Op == WriteTruncate || w.Op == WriteReset || w.log == n.state {
				n.failStop(fmt.Errorf("%s: %w", w.what(), err))
			}
		default:
			if !n.wrote(w.kind(), err, w.what()) && n.stopped == nil {
				failed = append(failed, failure{w.log, err}) // a clean data-write failure
			}
		}
	}
	for _, l := range n.dirty {
		l.settle()
	}
	dirty := n.dirty
	n.dirty = nil
	if n.out.Writes == nil {
		clear(ws)
		n.out.Writes = ws[:0] // reused: the runtime is done with it
	}
	if n.stopped != nil {
		return
	}
	for _, f := range failed {
		if t := n.topics[f.log.name]; t != nil && t.log == f.log {
			n.rollback(t, f.err)
		}
	}
	for _, l := range dirty {
		t := n.topics[l.name]
		if t == nil || t.log != l {
			continue
		}
		if t.syncing { // the catch-up and its label are written
			t.synced, t.syncing = true, false
		}
		if l.grew {
			l.grew = false
			n.updateCommitted(t)
			n.recomputeCommit(n.now, t)
		}
	}
	if n.dirty == nil { // nothing staged meanwhile: reuse the list
		clear(dirty)
		n.dirty = dirty[:0]
	}
	if n.confirm {
		n.confirm = false
		n.confirmSynced()
	}
}

// rollback aligns a topic's state with its log after a clean write failure:
// the epoch history (and so whether we hold the view's agreed log) is the
// log's, the producer table is rebuilt from the log when next needed, and
// the proposals whose records are not in the log are refused with err (the
// producer resends). The messages that announced the lost records never
// left (Ready), so no peer knows of them.
func (n *Node) rollback(t *topic, err error) {
	end := t.log.NextOffset()
	if h, herr := decodeHistory(t.log.Meta()); herr == nil {
		t.hist = h
	}
	t.syncing = false
	if n.installed && t.view == n.view.Number {
		t.synced = label(clipHistory(t.hist, end)) == t.view
	}
	t.dedupe = nil
	for id, a := range t.acked {
		t.acked[id] = min(a, end)
	}
	k := 0
	for _, p := range t.pending {
		if p.waitEnd > end {
			p.ack.Err = err
			n.out.Acks = append(n.out.Acks, p.ack)
			n.noteGap(n.now, t.name, p.firsts)
		} else {
			t.pending[k] = p
			k++
		}
	}
	t.pending = t.pending[:k]
	n.setFloor(t) // in case the floor was skipped
}
