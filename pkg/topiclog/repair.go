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
	"strings"

	"github.com/logstream/logstream/pkg/durable"
	"github.com/logstream/logstream/pkg/record"
)

// Repairing a damaged range: a replica that holds the records of a hole
// (damage.go) intact sends them, and RepairRange puts them back.
//
// Design: the segment holding the hole is rewritten whole into a temp file
// with the records in place of the damaged bytes, checked, fsynced and
// renamed over the segment. The alternative, a per-segment patch file
// consulted by reads that reach a hole, keeps the segment untouched but
// makes every other part of the log aware of patches: reads would merge two
// files (and need an index into the patch to start in the middle of one),
// TruncateTo and locate would have to cut into patches, retention and Reset
// delete them, recovery load and cross-check them. Rewriting keeps one
// representation — a segment file of checksummed entries — so reads,
// truncation, retention, Reset and recovery need no change at all, and crash
// safety reduces to the one atomic step the log already relies on for meta
// and the reset marker: the rename of a fully written, fsynced file. Its
// cost is copying one segment (at most SegmentBytes, streamed through a
// small buffer) while the writer lock is held; repairs are rare, readers
// go on meanwhile (they read the old file until the swap, which takes mu
// only to exchange the file handles).
//
// The rewritten segment holds the bytes before the hole, the repaired
// records, and the bytes after the hole. What remains of the hole needs no
// marker: offsets missing before an intact record are a hole by themselves
// (check finds a gap). Only a remainder at the very end of a segment, with
// no intact record after it, would look like the segment simply ends, so
// there the original damaged bytes are kept after the repaired records, as
// they were before: check still finds no intact record in them. The new
// file is checked as at open before it replaces the old one, and must show
// exactly the old holes less the repaired offsets; otherwise (the old file
// took new damage while it was copied, say) the repair is refused and
// nothing changes.
//
// Crash safety, step by step (each a state recovery accepts):
//
//  1. write <seg>.log.repair and <seg>.idx.repair (check builds the index),
//     fsync both. A crash leaves debris that load removes.
//  2. empty the segment's .idx and fsync it. Recovery rebuilds a missing
//     index silently; without this step a crash between the two renames
//     below would pair the new log with the old index and report index
//     damage that is not there.
//  3. rename <seg>.log.repair over <seg>.log, fsync the directory: the
//     commit point. Before it the old segment is on disk (with its hole),
//     after it the repaired one; a rename is atomic, so never a mix.
//  4. rename <seg>.idx.repair over <seg>.idx, fsync the directory. A crash
//     before it leaves the empty index of step 2, rebuilt at open.
//
// The damaged records are never guessed: only records that arrived with
// their offsets from a replica are written, each under a fresh checksum.
const repairExt = ".repair"

// ErrRepair is matched (errors.Is) by the errors of RepairRange for records
// that do not fill part of one damaged range: offsets outside a hole (or
// one already repaired), not contiguous, or below StartOffset.
var ErrRepair = errors.New("topiclog: records do not fit a damaged range")

// testHookRepair, when set (by tests), is called after each step of a
// repair with its name, so a test can snapshot the directory as a crash at
// that point would leave it.
var testHookRepair func(step string)

func repairStep(step string) {
	if testHookRepair != nil {
		testHookRepair(step)
	}
}

// Range is a span of offsets [From, To).
type Range struct{ From, To uint64 }

// Holes returns the ranges of offsets cut out of the log for damage and not
// repaired since, in offset order (data damage only; a torn tail is not a
// hole), clipped to [StartOffset, NextOffset). A range never spans two
// segments: two holes that meet at a segment boundary are listed apart, and
// one RepairRange call fills part of one listed range. A closed log has
// none.
func (l *Log) Holes() []Range {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil
	}
	var out []Range
	for _, seg := range l.segs {
		if seg.next <= l.start {
			continue
		}
		for _, h := range seg.holeList() {
			if from, to := max(h.from, l.start), min(h.to, l.next); from < to {
				out = append(out, Range{From: from, To: to})
			}
		}
	}
	return out
}

// RepairRange writes recs, which another replica holds intact, into a hole:
// recs have contiguous offsets, all inside one range that Holes lists (a
// prefix, suffix, middle part or the whole of it). It is durable when
// RepairRange returns, whatever the flush policy (the rewritten segment and
// the directory are fsynced), and atomic: a crash at any point reopens the
// log with either the hole or the repaired records. Afterwards Read returns
// the records in order with the rest (a batch no longer stops there), Holes
// no longer lists them, and the report in Damaged stays but is marked: its
// Repaired counts the records written back and its Action says so. After a
// restart a fully repaired range is no longer damage at all and is not
// reported; what is left of a partly repaired one is reported as a range of
// missing offsets (Pos == End).
//
// Records that do not fit one hole (outside one, not contiguous, below
// StartOffset) are an error matching ErrRepair; records the log could not
// store (see Append) are an error too. Either way nothing changes. Empty
// recs is a no-op.
//
// The segment holding the hole is rewritten (see repair.go): appends wait
// for the copy of one segment; reads go on. Each call copies the segment
// once, so a caller should fill a hole in as few calls as its batches
// allow. If the segment took new damage since the hole was listed, the
// rewritten copy does not check as expected and the repair is refused with
// an error matching ErrCorrupt (nothing changes; a read cuts the new damage
// out, and Holes then lists it too). An I/O error after the commit point
// leaves the log refusing writes until it is reopened, as a failed fsync of
// an append does.
func (l *Log) RepairRange(recs []record.Record) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	from := recs[0].Offset
	for i := range recs {
		if want := from + uint64(i); recs[i].Offset != want {
			return fmt.Errorf("topic %s: repair: %w: record %d has offset %d, want %d (not contiguous)",
				l.name, ErrRepair, i, recs[i].Offset, want)
		}
	}
	to := from + uint64(len(recs))
	if to < from {
		return fmt.Errorf("topic %s: repair: %w: offsets overflow", l.name, ErrRepair)
	}
	if err := checkRecords(recs); err != nil {
		return err
	}
	// Only writers change segs and start, and we hold wmu: no mu needed to
	// read them. Holes may grow under a reader (findHole); a snapshot does.
	if from < l.start {
		return fmt.Errorf("topic %s: repair [%d, %d): %w: below the start offset %d", l.name, from, to, ErrRepair, l.start)
	}
	seg := l.segs[l.segIndex(from)]
	holes := seg.holeList()
	k := slices.IndexFunc(holes, func(h hole) bool { return h.from <= from && to <= h.to })
	if k < 0 {
		return fmt.Errorf("topic %s: repair [%d, %d): %w: not inside one damaged range (holes %v)",
			l.name, from, to, ErrRepair, l.Holes())
	}
	h := holes[k]
	if err := l.repairSegment(seg, holes, k, recs); err != nil {
		return fmt.Errorf("topic %s: repair [%d, %d) of %s: %w", l.name, from, to, segFile(seg), err)
	}
	l.markRepaired(seg, from, to)
	l.logger.Info().Str("file", segFile(seg)).Uint64("from", from).Uint64("to", to).
		Uint64("hole_from", h.from).Uint64("hole_to", h.to).
		Msgf("repaired damaged log range: offsets [%d, %d) of %s written back from a replica", from, to, segFile(seg))
	return nil
}

// repairSegment rewrites seg with recs in the hole holes[k] (see the steps
// at the top of this file). Caller holds wmu.
func (l *Log) repairSegment(seg *segment, holes []hole, k int, recs []record.Record) (err error) {
	h := holes[k]
	from, to := recs[0].Offset, recs[len(recs)-1].Offset+1

	var entries []byte
	for i := range recs {
		entries = appendEntry(entries, &recs[i])
	}
	// Keep the damaged bytes when what is left of the hole ends the
	// segment (see the top of this file); drop them otherwise.
	rest := h.end
	if to < h.to && h.to == seg.next {
		rest = h.pos
	}
	size := h.pos + int64(len(entries)) + seg.size - rest
	if size > math.MaxUint32 {
		return fmt.Errorf("%w: the repaired segment would be %d bytes", ErrRepair, size)
	}
	want := holesWithout(holes, k, from, to)

	logPath, idxPath := segPath(l.dir, seg.base, logExt), segPath(l.dir, seg.base, idxExt)
	tmpLog, tmpIdx := logPath+repairExt, idxPath+repairExt
	tmp := &segment{base: seg.base, next: seg.base, maxTs: math.MinInt64}
	committed := false
	fsys := l.opts.FS
	defer func() {
		if committed {
			return
		}
		tmp.close()
		fsys.Remove(tmpLog)
		fsys.Remove(tmpIdx)
	}()

	// Step 1: the new segment and its index, checked and fsynced.
	if tmp.log, err = fsys.OpenFile(tmpLog, os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm); err != nil {
		return err
	}
	if tmp.idxF, err = fsys.OpenFile(tmpIdx, os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm); err != nil {
		return err
	}
	w := io.NewOffsetWriter(tmp.log, 0)
	if _, err := io.Copy(w, io.NewSectionReader(seg.log, 0, h.pos)); err != nil {
		return err
	}
	if _, err := w.Write(entries); err != nil {
		return err
	}
	if _, err := io.Copy(w, io.NewSectionReader(seg.log, rest, seg.size-rest)); err != nil {
		return err
	}
	rep, err := tmp.check(seg.next, false)
	if err != nil {
		return err
	}
	if tmp.size != size || tmp.next != seg.next || !sameOffsets(rep.holes, want) {
		return fmt.Errorf("%w: the rewritten segment checks as %d bytes, offsets up to %d, holes %v; want %d bytes, up to %d, holes %v (did the segment take new damage?)",
			ErrCorrupt, tmp.size, tmp.next, holeRanges(rep.holes), size, seg.next, holeRanges(want))
	}
	if err := tmp.log.Sync(); err != nil {
		return err
	}
	if err := tmp.idxF.Sync(); err != nil {
		return err
	}
	repairStep("written")

	// Step 2: empty the old index.
	if err := clearIndex(fsys, seg, idxPath); err != nil {
		return err
	}
	repairStep("index-cleared")

	// Step 3: the commit point.
	if err := fsys.Rename(tmpLog, logPath); err != nil {
		if seg.idxF != nil {
			// The active segment goes on appending index entries at
			// len(index): put back what step 2 emptied.
			if e := seg.writeIndex(); e != nil {
				l.setFailed(fmt.Errorf("topic %s: index lost after a failed repair (%v): %w", l.name, err, e))
			}
		}
		return err
	}
	committed = true
	repairStep("renamed")
	// The old file is unlinked: readers and appends must move to the new
	// one now, whatever happens next.
	l.mu.Lock()
	old, oldIdx := seg.log, seg.idxF
	seg.log, seg.size, seg.index, seg.maxTs = tmp.log, tmp.size, tmp.index, tmp.maxTs
	seg.setHoles(tmp.holeList())
	if oldIdx != nil {
		seg.idxF = tmp.idxF
	}
	l.mu.Unlock()
	old.Close()
	if oldIdx != nil {
		oldIdx.Close()
	} else {
		defer tmp.idxF.Close()
	}
	fail := func(err error) error {
		return l.setFailed(fmt.Errorf("topic %s: repair of %s committed but not finished (reopen the log): %w", l.name, segFile(seg), err))
	}
	if err := fsys.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	// Step 4: the new index.
	if err := fsys.Rename(tmpIdx, idxPath); err != nil {
		return fail(err)
	}
	repairStep("index-renamed")
	if err := fsys.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	return nil
}

// clearIndex empties seg's .idx durably (step 2 of a repair).
func clearIndex(fsys durable.FS, seg *segment, idxPath string) error {
	f := seg.idxF
	if f == nil {
		var err error
		if f, err = fsys.OpenFile(idxPath, os.O_RDWR|os.O_CREATE, filePerm); err != nil {
			return err
		}
		defer f.Close()
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	return f.Sync()
}

// holesWithout returns holes with the offsets [from, to) of holes[k]
// removed (positions are not kept: only offsets are compared).
func holesWithout(holes []hole, k int, from, to uint64) []hole {
	h := holes[k]
	out := slices.Clone(holes[:k])
	if h.from < from {
		out = append(out, hole{from: h.from, to: from})
	}
	if to < h.to {
		out = append(out, hole{from: to, to: h.to})
	}
	return append(out, holes[k+1:]...)
}

// sameOffsets reports whether two hole lists cover the same offset ranges.
func sameOffsets(a, b []hole) bool {
	return slices.Equal(holeRanges(a), holeRanges(b))
}

func holeRanges(holes []hole) []Range {
	out := make([]Range, len(holes))
	for i, h := range holes {
		out[i] = Range{From: h.from, To: h.to}
	}
	return out
}

const actionRepaired = "repaired: records written back from a replica"

// markRepaired marks the data damage reports of seg that [from, to)
// overlaps: Repaired counts the records written back, and a report whose
// every record is back says so in its Action.
func (l *Log) markRepaired(seg *segment, from, to uint64) {
	file := segFile(seg)
	l.dmu.Lock()
	defer l.dmu.Unlock()
	for i := range l.damage {
		d := &l.damage[i]
		if d.Kind != DamageData || d.File != file || to <= d.From || d.To <= from {
			continue
		}
		d.Repaired = min(d.Lost(), d.Repaired+min(to, d.To)-max(from, d.From))
		if d.Repaired == d.Lost() {
			d.Action = actionRepaired
		} else {
			d.Action = fmt.Sprintf("partly repaired: %d of %d records written back from a replica, readers skip the rest", d.Repaired, d.Lost())
		}
	}
}

// removeRepairDebris deletes the temp files of a repair a crash
// interrupted before its commit point (load calls it).
func (l *Log) removeRepairDebris() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), repairExt); ok {
			if d, ok := strings.CutSuffix(n, idxExt); ok {
				n = d + logExt
			}
			if _, ok := parseSegName(n); ok {
				if err := l.opts.FS.Remove(filepath.Join(l.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}
