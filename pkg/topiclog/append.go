package topiclog

import (
	"fmt"
	"math"
	"sync"

	"github.com/logstream/logstream/pkg/record"
)

// Append assigns recs[i].Offset = NextOffset()+i (in the caller's slice),
// writes the batch and returns the first offset. The batch goes to disk in
// one write syscall unless it crosses a segment boundary or maxWriteChunk.
// On error nothing of the batch remains in the log.
func (l *Log) Append(recs []record.Record) (first uint64, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	first = l.next
	if err := checkRecords(recs); err != nil {
		return first, err
	}
	for i := range recs {
		recs[i].Offset = first + uint64(i)
	}
	return first, l.appendLocked(recs)
}

// AppendAt appends records that already carry offsets (replication from the
// topic's owner): recs[0].Offset must be NextOffset() and the rest must
// follow it one by one.
func (l *Log) AppendAt(recs []record.Record) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	for i := range recs {
		if want := l.next + uint64(i); recs[i].Offset != want {
			return fmt.Errorf("%w: record %d has offset %d, want %d", ErrNotContiguous, i, recs[i].Offset, want)
		}
	}
	if err := checkRecords(recs); err != nil {
		return err
	}
	return l.appendLocked(recs)
}

func (l *Log) writable() error {
	if l.isClosed() {
		return ErrClosed
	}
	if l.failed != nil {
		return l.unusable()
	}
	return nil
}

// checkRecords rejects records the log could not store faithfully, before
// anything is written.
func checkRecords(recs []record.Record) error {
	for i := range recs {
		r := &recs[i]
		if len(r.ProducerID) > record.MaxProducerID {
			return fmt.Errorf("topiclog: record %d: producer id of %d bytes exceeds %d", i, len(r.ProducerID), record.MaxProducerID)
		}
		if r.Size() > MaxEntryBytes {
			return fmt.Errorf("topiclog: record %d: %d bytes exceeds the %d-byte entry limit", i, r.Size(), MaxEntryBytes)
		}
	}
	return nil
}

// appendBufs holds append buffers between batches, shared by every Log of
// the process. Each Log used to keep its own (up to keepBufBytes): at 1000
// topics that was most of a broker's memory (measured: 514 MB peak RSS),
// while only the topics appending at that moment need one.
var appendBufs = sync.Pool{New: func() any { return new([]byte) }}

// appendLocked frames recs into the reused buffer and writes it, rolling
// segments as they fill. Caller holds wmu; offsets are already checked.
func (l *Log) appendLocked(recs []record.Record) error {
	if len(recs) == 0 {
		return nil
	}
	first := l.next
	seg := l.active()
	bp := appendBufs.Get().(*[]byte)
	buf, pend := (*bp)[:0], l.idxBuf[:0]
	lastIdx, maxTs, off := seg.lastIndexPos(), seg.maxTs, first
	for i := range recs {
		pos := seg.size + int64(len(buf))
		if pos >= l.opts.SegmentBytes {
			if err := l.commit(seg, buf, pend, off, maxTs); err != nil {
				return l.undo(first, err)
			}
			ns, err := l.roll()
			if err != nil {
				return l.undo(first, err)
			}
			seg, buf, pend = ns, buf[:0], pend[:0]
			lastIdx, maxTs, pos = -1, math.MinInt64, 0
		}
		if len(seg.index)+len(pend) == 0 || pos-lastIdx >= indexIntervalBytes {
			pend = append(pend, indexEntry{rel: uint32(off - seg.base), pos: uint32(pos), maxTsBefore: maxTs})
			lastIdx = pos
		}
		buf = appendEntry(buf, &recs[i])
		maxTs = max(maxTs, recs[i].Timestamp)
		off++
		if len(buf) >= maxWriteChunk {
			if err := l.commit(seg, buf, pend, off, maxTs); err != nil {
				return l.undo(first, err)
			}
			buf, pend = buf[:0], pend[:0]
		}
	}
	if err := l.commit(seg, buf, pend, off, maxTs); err != nil {
		return l.undo(first, err)
	}
	if cap(buf) <= keepBufBytes { // a rare huge batch's buffer is let go
		*bp = buf[:0]
		appendBufs.Put(bp)
	}
	l.idxBuf = pend[:0]
	if l.opts.Flush == FlushEveryBatch {
		if err := l.syncLocked(); err != nil {
			// After a failed fsync the kernel may have dropped the dirty
			// pages; nothing written since can be trusted.
			return l.setFailed(err)
		}
	}
	return nil
}

// commit writes buf (entries ending at offset next) and its index entries to
// seg and publishes them to readers and waiters.
func (l *Log) commit(seg *segment, buf []byte, pend []indexEntry, next uint64, maxTs int64) error {
	if len(buf) == 0 {
		return nil
	}
	if _, err := seg.log.WriteAt(buf, seg.size); err != nil {
		return err
	}
	if len(pend) > 0 {
		ib := make([]byte, 0, len(pend)*indexEntrySize)
		for _, e := range pend {
			ib = e.appendTo(ib)
		}
		if _, err := seg.idxF.WriteAt(ib, int64(len(seg.index))*indexEntrySize); err != nil {
			return err
		}
	}
	l.dirty.Store(true)
	l.mu.Lock()
	seg.size += int64(len(buf))
	seg.index = append(seg.index, pend...)
	seg.next, seg.maxTs, l.next = next, maxTs, next
	victims := l.retainLocked()
	l.mu.Unlock()
	if err := l.afterRetain(victims); err != nil {
		l.logger.Warn().Err(err).Msg("retention could not delete segment files")
	}
	return nil
}

// roll starts a new active segment at NextOffset.
func (l *Log) roll() (*segment, error) {
	old := l.active()
	if l.opts.Flush != FlushNever {
		if err := old.log.Sync(); err != nil {
			return nil, err
		}
	}
	seg, err := createSegment(l.opts.FS, l.dir, l.next)
	if err != nil {
		return nil, err
	}
	if l.opts.Flush != FlushNever {
		if err := l.opts.FS.SyncDir(l.dir); err != nil {
			seg.close()
			return nil, err
		}
	}
	if old.idxF != nil {
		old.idxF.Close()
		old.idxF = nil
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	victims := l.retainLocked()
	l.mu.Unlock()
	if err := l.afterRetain(victims); err != nil {
		l.logger.Warn().Err(err).Msg("retention could not delete segment files")
	}
	return seg, nil
}

// undo removes whatever part of a failed batch reached the files, so the
// log stays a contiguous prefix. If even that fails the log refuses writes.
func (l *Log) undo(first uint64, cause error) error {
	cause = fmt.Errorf("topic %s: append: %w", l.name, cause)
	seg := l.active()
	err := seg.log.Truncate(seg.size)
	if err == nil && seg.idxF != nil {
		err = seg.idxF.Truncate(int64(len(seg.index)) * indexEntrySize)
	}
	if err == nil && l.next > first {
		err = l.truncateLocked(first)
	}
	if err != nil {
		uerr := l.setFailed(fmt.Errorf("topic %s: log unusable after failed write (%v): %w", l.name, cause, err))
		l.logger.Error().Err(l.failed).Msg("log write failed and could not be undone")
		return uerr
	}
	return cause
}
