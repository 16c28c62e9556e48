package topiclog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/logstream/logstream/pkg/durable"
)

const (
	logExt   = ".log"
	idxExt   = ".idx"
	baseLen  = 20 // digits of a zero-padded uint64
	filePerm = 0o644
)

// segment is one .log file holding records [base, next) and its sparse index.
// Fields other than base are changed only by the Log's writer, and only while
// it also holds Log.mu for writing (log only by a repair, which swaps in the
// rewritten file); readers hold Log.mu.RLock.
type segment struct {
	base  uint64
	log   durable.File
	idxF  durable.File // kept open only for the active segment; writer-owned
	size  int64        // committed bytes; bytes past it are never read
	next  uint64       // base + number of records
	index []indexEntry
	maxTs int64 // largest timestamp in the segment, math.MinInt64 if empty
	// holes are the cut-out damaged ranges (damage.go). Readers load them
	// without locks; they change under Log.mu (writers) or Log.dmu (a
	// reader that finds new damage, holding Log.mu for reading).
	holes atomic.Pointer[[]hole]
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
func createSegment(fsys durable.FS, dir string, base uint64) (*segment, error) {
	lf, err := fsys.OpenFile(segPath(dir, base, logExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return nil, err
	}
	xf, err := fsys.OpenFile(segPath(dir, base, idxExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		lf.Close()
		return nil, err
	}
	return &segment{base: base, log: lf, idxF: xf, next: base, maxTs: math.MinInt64}, nil
}

// openSegment opens an existing segment and checks it whole (see check).
// limit is the next segment's base (math.MaxUint64 for the last segment).
func openSegment(fsys durable.FS, dir string, base, limit uint64, last bool) (seg *segment, rep recovery, err error) {
	lf, err := fsys.OpenFile(segPath(dir, base, logExt), os.O_RDWR, 0)
	if err != nil {
		return nil, rep, err
	}
	xf, err := fsys.OpenFile(segPath(dir, base, idxExt), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		lf.Close()
		return nil, rep, err
	}
	seg = &segment{base: base, log: lf, idxF: xf, next: base, maxTs: math.MinInt64}
	rep, err = seg.check(limit, last)
	if err != nil {
		seg.close()
		return nil, rep, err
	}
	return seg, rep, nil
}

// recovery is what check found and did.
type recovery struct {
	holes    []hole // damaged ranges cut out
	dropped  int64  // bytes of a torn tail cut off (last segment only)
	idxFrom  int    // first and last+1 index entries of the .idx that were wrong
	idxTo    int
	idxFound bool
}

// check verifies every entry of the segment (checksum and offset) and
// rebuilds its index from what it reads. Damaged bytes followed by intact
// entries become a hole; offsets missing between two intact entries too. A
// damaged tail is cut off (a torn write) in the last segment, and becomes a
// hole up to limit in an older one. The .idx is compared with the rebuilt
// index and rewritten if it differs; entries that disagree (not merely
// missing or past the end, as after a crash) are reported as damage.
func (s *segment) check(limit uint64, last bool) (rep recovery, err error) {
	st, err := s.log.Stat()
	if err != nil {
		return rep, err
	}
	size := st.Size()
	fileIdx, idxBytes, err := s.readIndexFile(size)
	if err != nil {
		return rep, err
	}
	stored := storedIndex{idx: fileIdx}

	expect, maxTs, good := s.base, int64(math.MinInt64), size
	var idx []indexEntry
	if size > 0 {
		// Entry 0 always names the segment's first position, even when
		// the bytes there are damaged: lookups then start at a hole.
		idx = []indexEntry{{rel: 0, pos: 0, maxTsBefore: maxTs}}
	}
	lastIdx := int64(0)
	sc := newScanner(s.log, 0, size, 1<<20, false)
	for {
		r, p, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errTorn) && !errors.Is(err, ErrCorrupt) {
			return rep, err // an I/O error, not bad data: do not cut anything
		}
		if err == nil && r.Offset > expect && r.Offset < limit && r.Offset-s.base < math.MaxUint32 {
			// Intact, but offsets are missing before it.
			rep.holes = append(rep.holes, hole{from: expect, to: r.Offset, pos: p, end: p})
			expect = r.Offset
		}
		if err != nil || r.Offset != expect || expect-s.base >= math.MaxUint32 {
			q, r2, found, err := resync(s.log, p, size, expect, min(limit, s.base+math.MaxUint32))
			if err != nil {
				return rep, err
			}
			switch {
			case found:
				rep.holes = append(rep.holes, hole{from: expect, to: r2.Offset, pos: p, end: q})
				stored.skip(q)
				expect = r2.Offset
				sc = newScanner(s.log, q, size, 1<<20, false)
				continue
			case last:
				good = p
			default:
				rep.holes = append(rep.holes, hole{from: expect, to: limit, pos: p, end: size})
				stored.skip(size)
				expect = limit
			}
			break
		}
		e := indexEntry{rel: uint32(expect - s.base), pos: uint32(p), maxTsBefore: maxTs}
		stored.entry(p, e)
		if p-lastIdx >= indexIntervalBytes {
			idx = append(idx, e)
			lastIdx = p
		}
		maxTs = max(maxTs, r.Timestamp)
		expect++
	}
	if good == 0 {
		idx = nil
	}
	if good < size {
		if err := s.log.Truncate(good); err != nil {
			return rep, err
		}
		rep.dropped = size - good
	}
	s.size, s.next, s.maxTs, s.index = good, expect, maxTs, idx
	s.setHoles(rep.holes)
	stored.finish(good)
	rep.idxFrom, rep.idxTo, rep.idxFound = stored.from, stored.to, stored.bad
	if rep.idxFound || !slices.Equal(fileIdx, idx) || idxBytes%indexEntrySize != 0 {
		if err := s.writeIndex(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// readIndexFile reads the .idx entries as stored, unchecked. An index never
// needs more than one entry per minimal entry of log, so a huge .idx is
// garbage and is not read whole.
func (s *segment) readIndexFile(logSize int64) (idx []indexEntry, fileBytes int64, err error) {
	xst, err := s.idxF.Stat()
	if err != nil {
		return nil, 0, err
	}
	n := min(xst.Size(), (logSize/(entryHeader+1)+1)*indexEntrySize)
	raw := make([]byte, n)
	if _, err := s.idxF.ReadAt(raw, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return decodeIndex(raw), xst.Size(), nil
}

// storedIndex walks the entries of the .idx as stored alongside the check
// of the log, to tell damage from the differences a crash leaves (entries
// missing at the end, or past a cut tail) and from the entries that data
// damage made point into a hole.
type storedIndex struct {
	idx      []indexEntry
	j        int // next entry to match
	bad      bool
	from, to int // entries found wrong, [from, to)
}

func (x *storedIndex) wrong(i int) {
	if !x.bad {
		x.bad, x.from = true, i
	}
	x.to = i + 1
}

// entry matches the stored entries up to position p, where the check
// accepted a record: one there must say what the rebuilt one says.
func (x *storedIndex) entry(p int64, want indexEntry) {
	for ; x.j < len(x.idx) && int64(x.idx[x.j].pos) <= p; x.j++ {
		e := x.idx[x.j]
		if int64(e.pos) < p || e.rel != want.rel || e.maxTsBefore != want.maxTsBefore {
			x.wrong(x.j)
		}
	}
}

// skip passes over stored entries before end (inside a hole).
func (x *storedIndex) skip(end int64) {
	for x.j < len(x.idx) && int64(x.idx[x.j].pos) < end {
		x.j++
	}
}

// finish judges the entries after the last record: wrong unless past good.
func (x *storedIndex) finish(good int64) {
	for ; x.j < len(x.idx); x.j++ {
		if int64(x.idx[x.j].pos) < good {
			x.wrong(x.j)
		}
	}
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
func removeSegmentFiles(fsys durable.FS, dir string, base uint64) error {
	var err error
	for _, ext := range []string{logExt, idxExt} {
		if e := fsys.Remove(segPath(dir, base, ext)); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = e
		}
	}
	return err
}
