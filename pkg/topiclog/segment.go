package topiclog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	logExt   = ".log"
	idxExt   = ".idx"
	baseLen  = 20 // digits of a zero-padded uint64
	filePerm = 0o644
)

// segment is one .log file holding records [base, next) and its sparse index.
// Fields other than base and log are changed only by the Log's writer, and
// only while it also holds Log.mu for writing; readers hold Log.mu.RLock.
type segment struct {
	base  uint64
	log   *os.File
	idxF  *os.File // kept open only for the active segment; writer-owned
	size  int64    // committed bytes; bytes past it are never read
	next  uint64   // base + number of records
	index []indexEntry
	maxTs int64 // largest timestamp in the segment, math.MinInt64 if empty
}

func segPath(dir string, base uint64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

// parseSegName returns the base offset of a "<20 digits>.log" file name.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, logExt)
	if !ok || len(digits) != baseLen {
		return 0, false
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil
}

// lastIndexPos is the position of the newest index entry, or -1 if none, so
// the next entry is due once the log grows indexIntervalBytes past it.
func (s *segment) lastIndexPos() int64 {
	if len(s.index) == 0 {
		return -1
	}
	return int64(s.index[len(s.index)-1].pos)
}

// createSegment makes a new, empty segment at base. Stale files of the same
// name (a deletion that failed earlier) are truncated.
func createSegment(dir string, base uint64) (*segment, error) {
	lf, err := os.OpenFile(segPath(dir, base, logExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return nil, err
	}
	xf, err := os.OpenFile(segPath(dir, base, idxExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		lf.Close()
		return nil, err
	}
	return &segment{base: base, log: lf, idxF: xf, next: base, maxTs: math.MinInt64}, nil
}

// openSegment opens an existing segment and recovers it: it loads the index
// (rebuilding it if missing or inconsistent), scans the log from the last
// index point that still matches the log, and truncates the log at the first
// torn or corrupt entry. It returns how many bytes were cut off.
func openSegment(dir string, base uint64) (seg *segment, dropped int64, err error) {
	lf, err := os.OpenFile(segPath(dir, base, logExt), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	xf, err := os.OpenFile(segPath(dir, base, idxExt), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		lf.Close()
		return nil, 0, err
	}
	seg = &segment{base: base, log: lf, idxF: xf, next: base, maxTs: math.MinInt64}
	dropped, err = seg.recover()
	if err != nil {
		seg.close()
		return nil, 0, err
	}
	return seg, dropped, nil
}

func (s *segment) recover() (dropped int64, err error) {
	st, err := s.log.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	xst, err := s.idxF.Stat()
	if err != nil {
		return 0, err
	}
	// An index never needs more than one entry per minimal entry of log, so a
	// huge .idx is garbage and is not read whole.
	idxBytes := min(xst.Size(), (size/(entryHeader+1)+1)*indexEntrySize)
	raw := make([]byte, idxBytes)
	if _, err := s.idxF.ReadAt(raw, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	idx, ok := parseIndex(raw, size)
	rewrite := !ok || int64(len(idx))*indexEntrySize != xst.Size()
	if !ok {
		idx = nil
	}
	// Drop index points that no longer lead to the record they name.
	for len(idx) > 0 {
		e := idx[len(idx)-1]
		sc := newScanner(s.log, int64(e.pos), size, 4096, false)
		if r, _, err := sc.next(); err == nil && r.Offset == s.base+uint64(e.rel) {
			break
		}
		idx = idx[:len(idx)-1]
		rewrite = true
	}

	start, expect, maxTs, lastIdx := int64(0), s.base, int64(math.MinInt64), int64(-1)
	if len(idx) > 0 {
		e := idx[len(idx)-1]
		start, expect, maxTs, lastIdx = int64(e.pos), s.base+uint64(e.rel), e.maxTsBefore, int64(e.pos)
	}
	sc := newScanner(s.log, start, size, 1<<20, false)
	good := size
	for {
		r, p, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errTorn) && !errors.Is(err, ErrCorrupt) {
			return 0, err // an I/O error, not bad data: do not cut anything
		}
		if err != nil || r.Offset != expect || expect-s.base >= math.MaxUint32 {
			good = p
			break
		}
		if len(idx) == 0 || p-lastIdx >= indexIntervalBytes {
			idx = append(idx, indexEntry{rel: uint32(expect - s.base), pos: uint32(p), maxTsBefore: maxTs})
			lastIdx = p
			rewrite = true
		}
		maxTs = max(maxTs, r.Timestamp)
		expect++
	}
	if good < size {
		if err := s.log.Truncate(good); err != nil {
			return 0, err
		}
		dropped = size - good
	}
	s.size, s.next, s.maxTs, s.index = good, expect, maxTs, idx
	if rewrite {
		if err := s.writeIndex(); err != nil {
			return 0, err
		}
	}
	return dropped, nil
}

// writeIndex replaces the .idx contents with the in-memory index.
func (s *segment) writeIndex() error {
	buf := make([]byte, 0, len(s.index)*indexEntrySize)
	for _, e := range s.index {
		buf = e.appendTo(buf)
	}
	if _, err := s.idxF.WriteAt(buf, 0); err != nil {
		return err
	}
	return s.idxF.Truncate(int64(len(buf)))
}

// close releases the segment's files.
func (s *segment) close() error {
	var err error
	if s.idxF != nil {
		err = s.idxF.Close()
		s.idxF = nil
	}
	if e := s.log.Close(); e != nil && !errors.Is(e, fs.ErrClosed) {
		err = e
	}
	return err
}

// remove deletes the segment's files; the segment must be closed.
func removeSegmentFiles(dir string, base uint64) error {
	var err error
	for _, ext := range []string{logExt, idxExt} {
		if e := os.Remove(segPath(dir, base, ext)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = e
		}
	}
	return err
}
