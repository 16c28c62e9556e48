package topiclog

import (
	"fmt"
	"os"
	"slices"
	"sort"
)

// TruncateTo drops every record with offset >= next, so the next append
// gets offset next (view-synchronous recovery cuts a log back to the
// agreed prefix). next >= NextOffset() is a no-op; next < StartOffset()
// drops every record and the log continues empty at next (a replica whose
// whole retained log lies beyond the agreed prefix), crash-safe like Reset.
// Later appends reuse offsets from next on. The cut is durable when
// TruncateTo returns, whatever the flush policy (see syncTruncation).
func (l *Log) TruncateTo(next uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	if next >= l.next {
		return nil
	}
	if next < l.start {
		return l.resetLocked(next)
	}
	if err := l.truncateLocked(next); err != nil {
		return err
	}
	if err := l.syncTruncation(); err != nil {
		// As after a failed append fsync: the kernel may have dropped
		// the dirty pages, so nothing on disk can be trusted now.
		return l.setFailed(err)
	}
	return nil
}

// syncTruncation makes a cut durable: the active segment's index and log
// (their new sizes, and every record before the cut) and the directory
// (the later segments' removal). The caller writes next an epoch history
// (SetMeta, always durable) that disowns the records past the cut; were
// the cut still in the page cache, a power cut could bring those records
// back under the new history, so this ignores FlushNever. Cuts are rare
// (recovery only), so the fsyncs cost nothing that matters.
func (l *Log) syncTruncation() error {
	seg := l.active()
	if err := seg.idxF.Sync(); err != nil {
		return fmt.Errorf("topic %s: fsync index after truncation: %w", l.name, err)
	}
	if err := seg.log.Sync(); err != nil {
		return fmt.Errorf("topic %s: fsync after truncation: %w", l.name, err)
	}
	l.dirty.Store(false)
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("topic %s: fsync directory after truncation: %w", l.name, err)
	}
	return nil
}

// truncateLocked cuts the log to [StartOffset, next). Caller holds wmu and
// has checked StartOffset <= next <= NextOffset (or, undoing a failed
// append, that next is where the append started).
func (l *Log) truncateLocked(next uint64) error {
	k := max(0, sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > next })-1)
	seg := l.segs[k]
	pos, maxTs, err := l.locate(seg, next)
	if err != nil {
		return err
	}
	cut := sort.Search(len(seg.index), func(i int) bool { return seg.base+uint64(seg.index[i].rel) >= next })
	if seg.idxF == nil {
		if seg.idxF, err = l.opts.FS.OpenFile(segPath(l.dir, seg.base, idxExt), os.O_RDWR|os.O_CREATE, filePerm); err != nil {
			return err
		}
	}
	// Index first: an index entry past the log end is dropped by recovery,
	// but cutting the log first and crashing would leave one that looks valid
	// once new records are appended at the same positions.
	if err := seg.idxF.Truncate(int64(cut) * indexEntrySize); err != nil {
		return err
	}

	l.mu.Lock()
	// Cut this segment before unlinking the later ones: a crash in between
	// leaves a hole that recovery resolves by dropping the later segments.
	if err := seg.log.Truncate(pos); err != nil {
		l.mu.Unlock()
		return err
	}
	victims := append([]*segment(nil), l.segs[k+1:]...)
	for _, s := range victims {
		s.close()
	}
	l.segs = l.segs[:k+1]
	seg.size, seg.index, seg.next, seg.maxTs, l.next = pos, seg.index[:cut], next, maxTs, next
	seg.setHoles(keepHolesBefore(seg.holeList(), pos))
	l.start = min(l.start, next) // only an undone append can cut below the start
	l.mu.Unlock()
	if len(victims) > 0 {
		if err := l.removeSegments(victims); err != nil {
			return err
		}
	}
	l.logger.Info().Uint64("next_offset", next).Int("segments_dropped", len(victims)).Msg("log truncated")
	return nil
}

// keepHolesBefore returns the holes that start before position pos.
func keepHolesBefore(holes []hole, pos int64) []hole {
	k := 0
	for k < len(holes) && holes[k].pos < pos {
		k++
	}
	return slices.Clone(holes[:k])
}

// locate returns the file position of offset off in seg (seg.size for
// seg.next) and the largest timestamp of the segment's intact records
// before it. A cut-out range is stepped over; off inside one (past its
// first offset) cannot be located: the records up to off are gone.
func (l *Log) locate(seg *segment, off uint64) (pos int64, maxTs int64, err error) {
	if off >= seg.next {
		return seg.size, seg.maxTs, nil
	}
	holes := seg.holeList()
	e := seg.index[floorRel(seg.index, off-seg.base)]
	pos, want, maxTs := int64(e.pos), seg.base+uint64(e.rel), e.maxTsBefore
	sc := newScanner(seg.log, pos, seg.size, 2*indexIntervalBytes, false)
	for i := 0; ; {
		p := sc.pos()
		for i < len(holes) && (holes[i].end < p || holes[i].end == p && holes[i].pos < p) {
			i++
		}
		if i < len(holes) && holes[i].pos <= p {
			h := holes[i]
			i++
			if off == h.from {
				return p, maxTs, nil
			}
			if off > h.from && off < h.to {
				return 0, 0, fmt.Errorf("topic %s: locate offset %d in %s: %w: it lies in the damaged range [%d, %d)",
					l.name, off, segFile(seg), ErrCorrupt, h.from, h.to)
			}
			sc, want = newScanner(seg.log, h.end, seg.size, 2*indexIntervalBytes, false), h.to
			continue
		}
		r, p, err := sc.next()
		if err == nil && r.Offset != want {
			err = fmt.Errorf("%w: offset %d where %d belongs", ErrCorrupt, r.Offset, want)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("topic %s: locate offset %d in %s: %w", l.name, off, segFile(seg), err)
		}
		if r.Offset == off {
			return p, maxTs, nil
		}
		maxTs = max(maxTs, r.Timestamp)
		want++
	}
}
