package topiclog

import "slices"

// SetRetentionFloor makes retention keep every record at offset >= floor,
// beyond MaxRecords if need be, and applies retention at once. A replicated
// log passes its commit point, so no node trims a record that a majority
// may not hold yet. math.MaxUint64 (the default) means no floor; a lower
// floor than before brings back nothing already trimmed.
func (l *Log) SetRetentionFloor(floor uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	l.floor = floor
	if l.opts.MaxRecords <= 0 {
		return nil // unlimited retention: nothing to trim, keep readers unblocked
	}
	l.mu.Lock()
	victims := l.retainLocked()
	l.mu.Unlock()
	return l.afterRetain(victims)
}

// retainLocked moves the logical start up to the newest MaxRecords records,
// but never past the floor, then unlinks from segs the segments whose every
// record is below the start and returns them; the active segment is always
// kept, so NextOffset survives a restart. Caller holds wmu and mu.
func (l *Log) retainLocked() []*segment {
	if l.opts.MaxRecords <= 0 || l.next < uint64(l.opts.MaxRecords) {
		return nil
	}
	l.start = max(l.start, min(l.next-uint64(l.opts.MaxRecords), l.floor))
	n := 0
	for n+1 < len(l.segs) && l.segs[n+1].base <= l.start {
		n++
	}
	if n == 0 {
		return nil
	}
	victims := slices.Clone(l.segs[:n])
	l.segs = slices.Delete(l.segs, 0, n)
	for _, s := range victims {
		s.close() // under mu: no reader is inside these files
	}
	return victims
}

// afterRetain persists the start retainLocked set, then deletes the files
// of the segments it unlinked. Caller holds wmu, not mu.
func (l *Log) afterRetain(victims []*segment) error {
	l.persistStart()
	return l.removeSegments(victims)
}

// removeSegments deletes the files of segments already unlinked and closed,
// oldest first, so a crash in between leaves a log that lost only a prefix.
func (l *Log) removeSegments(victims []*segment) error {
	var err error
	for _, s := range victims {
		if e := removeSegmentFiles(l.opts.FS, l.dir, s.base); e != nil {
			err = e
		}
	}
	if len(victims) > 0 {
		l.logger.Debug().Uint64("first_base", victims[0].base).Int("segments", len(victims)).Msg("retention deleted segments")
	}
	return err
}
