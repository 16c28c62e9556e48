package topiclog

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/logstream/logstream/pkg/durable"
	"github.com/rs/zerolog"
)

// Log is the append-only log of one topic: a directory of segments named by
// their base offset. It is safe for concurrent use; writers (Append,
// AppendAt, TruncateTo, Reset, SetRetentionFloor, SetMeta, Sync) run one at
// a time, readers run in parallel with each other and with the writer's disk
// I/O.
type Log struct {
	name   string
	dir    string
	opts   Options
	logger zerolog.Logger

	// wmu serialises writers. A writer may read the fields below without mu
	// because only writers change them.
	wmu    sync.Mutex
	idxBuf []indexEntry // reused pending index entries
	failed error        // sticky: a write could not be undone
	dirty  atomic.Bool  // appended since the last fsync
	floor  uint64       // retention keeps every offset >= floor (see SetRetentionFloor)

	startF       durable.File // the start offset file (start.go), opened at its first write
	startSaved   uint64       // start as last written to startF
	startDirty   bool         // startF written since its last fsync
	startFailing bool         // the last write of startF failed (logged once)

	// mu guards the published state. Readers hold RLock across their preads
	// so no segment file is closed or truncated under them.
	mu     sync.RWMutex
	segs   []*segment // ascending base; never empty
	start  uint64     // logical start offset: segs[0].base <= start <= next
	next   uint64
	closed bool
	meta   []byte

	// dmu guards the damage reports, and serialises readers that found
	// new damage (damage.go).
	dmu         sync.Mutex
	damage      []Damage
	damageCount uint64
}

// openLog opens (creating if needed) the topic directory and recovers it.
func openLog(dir, name string, opts Options) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{
		name:   name,
		dir:    dir,
		opts:   opts,
		logger: opts.Logger.With().Str("topic", name).Logger(),
		floor:  math.MaxUint64,
	}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	return l, nil
}

// load finds the segments and the meta blob on disk and recovers them. It
// applies no retention: that waits for the next append or
// SetRetentionFloor, so a caller can set a floor before anything is deleted.
func (l *Log) load() error {
	if err := l.finishReset(); err != nil {
		return err
	}
	if err := l.removeRepairDebris(); err != nil {
		return err
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []uint64
	logs := map[uint64]bool{}
	for _, e := range ents {
		if base, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, base)
			logs[base] = true
		}
	}
	for _, e := range ents {
		// An index whose log is gone (deleted by retention just before a
		// crash) and a temp meta file of an interrupted SetMeta are debris.
		n := e.Name()
		if d, ok := strings.CutSuffix(n, idxExt); ok {
			if base, ok := parseSegName(d + logExt); ok && !logs[base] {
				l.opts.FS.Remove(filepath.Join(l.dir, n))
			}
		}
		if n == metaTmpFile {
			l.opts.FS.Remove(filepath.Join(l.dir, n))
		}
	}
	slices.Sort(bases)

	if err := l.loadMeta(); err != nil {
		return err
	}
	if len(bases) == 0 {
		seg, err := createSegment(l.opts.FS, l.dir, 0)
		if err != nil {
			return err
		}
		l.segs = []*segment{seg}
		l.next = 0
		return errors.Join(l.removeStart(), l.opts.FS.SyncDir(l.dir))
	}
	for i, base := range bases {
		last := i == len(bases)-1
		limit := uint64(math.MaxUint64)
		if !last {
			limit = bases[i+1]
		}
		seg, rep, err := openSegment(l.opts.FS, l.dir, base, limit, last)
		if err != nil {
			return err
		}
		if !last {
			seg.idxF.Close()
			seg.idxF = nil
		}
		l.segs = append(l.segs, seg)
		l.reportRecovery(seg, rep)
		if !last && seg.next != bases[i+1] {
			// The segment ends cleanly short of the next one: a truncation
			// (truncateLocked) cut it and crashed before unlinking the
			// later segments. Finish it: keep the contiguous prefix only.
			l.logger.Warn().Str("segment", filepath.Base(seg.log.Name())).Uint64("next_offset", seg.next).
				Uint64("next_segment", bases[i+1]).Int("segments_dropped", len(bases)-i-1).
				Msg("log not contiguous after recovery; dropping later segments")
			for _, b := range bases[i+1:] {
				if err := removeSegmentFiles(l.opts.FS, l.dir, b); err != nil {
					return err
				}
			}
			if seg.idxF, err = l.opts.FS.OpenFile(segPath(l.dir, base, idxExt), os.O_RDWR|os.O_CREATE, filePerm); err != nil {
				return err
			}
			break
		}
	}
	l.next = l.segs[len(l.segs)-1].next
	return l.initStart()
}

// reportRecovery reports what the check of seg at open found, one log line
// per damaged range.
func (l *Log) reportRecovery(seg *segment, rep recovery) {
	for _, h := range rep.holes {
		l.report(dataDamage(seg, h, actionCutOut), true)
	}
	if rep.idxFound {
		d := Damage{File: fmt.Sprintf("%020d%s", seg.base, idxExt), Kind: DamageIndex,
			Pos: int64(rep.idxFrom) * indexEntrySize, End: int64(rep.idxTo) * indexEntrySize, Action: actionIndex}
		d.From, d.To = seg.base, seg.next
		l.report(d, true)
	}
	if rep.dropped > 0 {
		// A torn write at the tail (a crash mid-append) is routine after a
		// power cut, so it keeps its warning; it is listed with the damage.
		l.logger.Warn().Str("segment", segFile(seg)).Int64("bytes_dropped", rep.dropped).
			Uint64("next_offset", seg.next).Msg("truncated torn or corrupt log tail")
		l.report(Damage{File: segFile(seg), Kind: DamageTail, From: seg.next, To: seg.next,
			Pos: seg.size, End: seg.size + rep.dropped, Action: "torn tail cut off: the log ends at the last intact record"}, false)
	}
}

// initStart sets the logical start from the start file, within the records
// the segments hold: a start file older than the last segment deletion (or
// none) gives way to the first segment's base, and one beyond the end
// (records lost to a power cut after it was written) to the end.
func (l *Log) initStart() error {
	saved, ok, err := l.loadStart()
	if err != nil {
		return err
	}
	l.start = l.segs[0].base
	if ok {
		l.startSaved = saved
		l.start = min(max(saved, l.start), l.next)
	}
	return nil
}

// Name returns the topic name.
func (l *Log) Name() string { return l.name }

// NextOffset returns the offset the next appended record gets.
func (l *Log) NextOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.next
}

// StartOffset returns the oldest retained offset (NextOffset if empty).
func (l *Log) StartOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// Sync forces appended records of the active segment to stable storage.
// (Segments are fsynced when they are rolled, unless the policy is FlushNever.)
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	return l.syncLocked()
}

func (l *Log) syncLocked() error {
	if l.startDirty {
		if err := l.startF.Sync(); err != nil {
			return fmt.Errorf("topic %s: fsync start offset: %w", l.name, err)
		}
		l.startDirty = false
	}
	if !l.dirty.Swap(false) {
		return nil
	}
	if err := l.active().log.Sync(); err != nil {
		l.dirty.Store(true)
		return fmt.Errorf("topic %s: fsync: %w", l.name, err)
	}
	return nil
}

// active is the segment appends go to. Callers hold wmu or mu.
func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Close flushes (unless FlushNever) and closes the log's files. Waiters get
// ErrClosed; later calls return ErrClosed.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	var err error
	if l.opts.Flush != FlushNever {
		err = l.syncLocked()
	}
	l.mu.Lock()
	l.closed = true
	for _, s := range l.segs {
		if e := s.close(); e != nil && err == nil {
			err = e
		}
	}
	if l.startF != nil {
		if e := l.startF.Close(); e != nil && err == nil {
			err = e
		}
		l.startF = nil
	}
	l.mu.Unlock()
	return err
}
