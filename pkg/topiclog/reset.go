package topiclog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logstream/logstream/pkg/durable"
)

// A reset (Reset, or TruncateTo below StartOffset) replaces every segment by
// one empty segment at a new base. Its commit point is the rename of a small
// marker file naming that base: before it the log is untouched, after it the
// reset is redone by the next open until the marker is removed, so a crash
// at any point reopens the log either as it was or empty at the new base.
const (
	resetFile    = "reset"
	resetTmpFile = resetFile + ".tmp" // durable.WriteFile's temp file
	maxResetFile = 32                 // a decimal uint64 and a newline fit easily
)

// Reset discards every record and continues the log, empty, at offset start:
// StartOffset() and NextOffset() become start. A replica uses it to jump
// forward past records its source no longer holds (retention removed them
// there), so start must be >= NextOffset(); a smaller start would hand out
// offsets again and is an *OffsetError. Meta is kept. The reset is durable
// when Reset returns, whatever the flush policy, and atomic across a crash.
func (l *Log) Reset(start uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if start < l.next {
		return fmt.Errorf("topic %s: reset backwards: %w", l.name, &OffsetError{Offset: start, Start: l.start, Next: l.next})
	}
	if len(l.segs) == 1 && l.segs[0].base == start {
		return nil // already empty at start
	}
	return l.resetLocked(start)
}

// resetLocked makes the log empty at base. Caller holds wmu.
func (l *Log) resetLocked(base uint64) error {
	if err := l.writeResetMarker(base); err != nil {
		return fmt.Errorf("topic %s: reset: %w", l.name, err)
	}
	// Committed: from here on a failure leaves the marker for the next open
	// to finish the job, and this Log refuses writes.
	fail := func(err error) error {
		return l.setFailed(fmt.Errorf("topic %s: reset to %d interrupted (finished at next open): %w", l.name, base, err))
	}
	l.mu.Lock()
	old := l.segs
	var err error
	for _, s := range old {
		if e := s.close(); e != nil && err == nil && !errors.Is(e, fs.ErrClosed) {
			err = e
		}
	}
	for _, s := range old {
		if e := removeSegmentFiles(l.opts.FS, l.dir, s.base); e != nil && err == nil {
			err = e
		}
	}
	var seg *segment
	if err == nil {
		seg, err = createSegment(l.opts.FS, l.dir, base)
	}
	if err != nil {
		l.mu.Unlock() // readers of the closed segments get errors until reopen
		return fail(err)
	}
	l.segs, l.start, l.next = []*segment{seg}, base, base
	l.mu.Unlock()
	l.dirty.Store(false)
	// The start file goes before the marker: a crash in between redoes the
	// reset at open, which removes it again.
	if err := l.removeStart(); err != nil {
		return fail(err)
	}
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	if err := l.opts.FS.Remove(filepath.Join(l.dir, resetFile)); err != nil {
		return fail(err)
	}
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	l.logger.Info().Uint64("offset", base).Int("segments_dropped", len(old)).Msg("log reset")
	return nil
}

// writeResetMarker durably records the reset's base (temp file, fsync,
// rename, fsync of the directory).
func (l *Log) writeResetMarker(base uint64) error {
	return durable.WriteFile(l.opts.FS, filepath.Join(l.dir, resetFile), []byte(strconv.FormatUint(base, 10)+"\n"), filePerm)
}

// finishReset completes a reset interrupted by a crash, at open: with a
// marker present every segment goes and an empty one starts at its base.
// A temp marker is debris of a reset that never committed.
func (l *Log) finishReset() error {
	l.opts.FS.Remove(filepath.Join(l.dir, resetTmpFile))
	path := filepath.Join(l.dir, resetFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxResetFile+1))
	f.Close()
	if err != nil {
		return err
	}
	base, err := parseResetMarker(b)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if d, ok := strings.CutSuffix(name, idxExt); ok {
			name = d + logExt
		}
		if _, ok := parseSegName(name); ok {
			if err := l.opts.FS.Remove(filepath.Join(l.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	seg, err := createSegment(l.opts.FS, l.dir, base)
	if err != nil {
		return err
	}
	seg.close()
	if err := l.opts.FS.Remove(filepath.Join(l.dir, startFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		return err
	}
	if err := l.opts.FS.Remove(path); err != nil {
		return err
	}
	l.logger.Warn().Uint64("offset", base).Msg("finished a log reset interrupted by a crash")
	return l.opts.FS.SyncDir(l.dir)
}

// parseResetMarker decodes a marker's contents: a decimal offset and a
// newline. It was written whole and fsynced before its rename, so anything
// else is outside damage, and guessing could lose or resurrect records.
func parseResetMarker(b []byte) (uint64, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	base, err := strconv.ParseUint(s, 10, 64)
	if !ok || err != nil || len(b) > maxResetFile || s != strconv.FormatUint(base, 10) {
		return 0, fmt.Errorf("%w: reset marker %q", ErrCorrupt, b)
	}
	return base, nil
}
