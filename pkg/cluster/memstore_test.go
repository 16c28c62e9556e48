package cluster

import (
	"fmt"
	"math"
	"slices"

	"github.com/logstream/logstream/pkg/record"
)

// memLog is an in-memory Log for the simulation; it survives a simulated
// crash because the sim keeps the memStore and hands it to the new Node.
// Like topiclog it trims its oldest records beyond maxRecords (here record
// by record, not by segment), never at or above the retention floor.
type memLog struct {
	start      uint64          // offset of recs[0]
	recs       []record.Record // offsets start, start+1, ...
	meta       []byte
	maxRecords uint64 // 0: unlimited
	floor      uint64
	lost       map[uint64]bool // offsets cut out for damage (their recs[] entry is garbage)
	failWrites error           // when set, Append/AppendAt/RepairRange/SetMeta fail with it and change nothing
	store      *memStore       // its applying flag: writes outside ApplyWrites panic
	resets     int             // Reset calls, for the sim's statistics
	emptied    int             // TruncateTo calls below StartOffset
	// onTrim, if set, sees every record retention removes: all are below
	// the floor, so committed, and the sim's checker places them in the
	// committed sequence before they are gone.
	onTrim func(off uint64, r record.Record)
}

func (l *memLog) NextOffset() uint64  { return l.start + uint64(len(l.recs)) }
func (l *memLog) StartOffset() uint64 { return l.start }

// at returns the record at off, which must be held.
func (l *memLog) at(off uint64) record.Record { return l.recs[off-l.start] }

// holds reports whether off is in [StartOffset, NextOffset).
func (l *memLog) holds(off uint64) bool { return off >= l.start && off < l.NextOffset() }

func cloneRec(r record.Record) record.Record {
	r.Payload = slices.Clone(r.Payload)
	return r
}

// writing checks that a write comes from the runtime applying a Ready's
// writes, never from inside the node (Step, Tick, Propose, ...).
func (l *memLog) writing() {
	if l.store != nil && !l.store.applying {
		panic("memlog: a write outside ApplyWrites: the node wrote to storage itself")
	}
}

// full is the store's injected disk-full error for record writes.
func (l *memLog) full() error {
	if l.store == nil || l.store.full == nil {
		return nil
	}
	l.store.refused++
	return l.store.full
}

func (l *memLog) Append(recs []record.Record) (uint64, error) {
	l.writing()
	if l.failWrites != nil {
		return 0, l.failWrites
	}
	if err := l.full(); err != nil {
		return 0, err
	}
	first := l.NextOffset()
	for i := range recs {
		recs[i].Offset = first + uint64(i)
		l.recs = append(l.recs, cloneRec(recs[i]))
	}
	l.retain()
	return first, nil
}

func (l *memLog) AppendAt(recs []record.Record) error {
	l.writing()
	if l.failWrites != nil {
		return l.failWrites
	}
	if err := l.full(); err != nil {
		return err
	}
	for i, r := range recs {
		if r.Offset != l.NextOffset() {
			return fmt.Errorf("memlog: AppendAt offset %d (record %d) but next is %d", r.Offset, i, l.NextOffset())
		}
		l.recs = append(l.recs, cloneRec(r))
	}
	l.retain()
	return nil
}

func (l *memLog) retain() {
	next := l.NextOffset()
	if l.maxRecords == 0 || next < l.maxRecords {
		return
	}
	keep := min(next-l.maxRecords, l.floor)
	if keep > l.start {
		if l.onTrim != nil {
			for off := l.start; off < keep; off++ {
				if !l.lost[off] { // a damaged record cannot be read, nor reported
					l.onTrim(off, l.at(off))
				}
			}
		}
		l.recs = slices.Clone(l.recs[keep-l.start:])
		l.start = keep
		for off := range l.lost {
			if off < keep {
				delete(l.lost, off)
			}
		}
	}
}

func (l *memLog) SetRetentionFloor(floor uint64) error {
	l.writing()
	l.floor = floor
	l.retain()
	return nil
}

func (l *memLog) Read(from uint64, maxRecords, maxBytes int) ([]record.Record, error) {
	if from < l.start || from > l.NextOffset() {
		return nil, fmt.Errorf("memlog: offset %d out of range: log holds [%d, %d)", from, l.start, l.NextOffset())
	}
	for l.lost[from] { // a read that starts in a hole starts after it
		from++
	}
	var out []record.Record
	size := 0
	for _, r := range l.recs[from-l.start:] {
		if len(out) >= maxRecords || (len(out) > 0 && size+r.Size() > maxBytes) || l.lost[r.Offset] {
			break // a batch never spans a hole
		}
		size += r.Size()
		out = append(out, cloneRec(r))
	}
	return out, nil
}

func (l *memLog) TruncateTo(next uint64) error {
	l.writing()
	for off := range l.lost {
		if off >= next {
			delete(l.lost, off)
		}
	}
	switch {
	case next >= l.NextOffset():
	case next < l.start:
		l.start, l.recs = next, nil
		l.emptied++
	default:
		k := next - l.start
		l.recs = l.recs[:k:k]
	}
	return nil
}

func (l *memLog) Reset(start uint64) error {
	l.writing()
	if start < l.NextOffset() {
		return fmt.Errorf("memlog: reset to %d below next offset %d", start, l.NextOffset())
	}
	l.start, l.recs = start, nil
	clear(l.lost)
	l.resets++
	return nil
}

// damage cuts [from, to) out, as topiclog does with a range whose checksums
// fail: the records are garbage until a repair.
func (l *memLog) damage(from, to uint64) {
	if l.lost == nil {
		l.lost = map[uint64]bool{}
	}
	for off := max(from, l.start); off < to && off < l.NextOffset(); off++ {
		l.lost[off] = true
		l.recs[off-l.start] = record.Record{Offset: off, ProducerID: "garbage", Payload: []byte("garbage")}
	}
}

func (l *memLog) Holes() []Range {
	var out []Range
	for off := l.start; off < l.NextOffset(); off++ {
		if !l.lost[off] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].To == off {
			out[n-1].To++
		} else {
			out = append(out, Range{off, off + 1})
		}
	}
	return out
}

func (l *memLog) RepairRange(recs []record.Record) error {
	l.writing()
	if l.failWrites != nil {
		return l.failWrites
	}
	if err := l.full(); err != nil {
		return err
	}
	for i, r := range recs {
		if !l.lost[r.Offset] || (i > 0 && r.Offset != recs[i-1].Offset+1) {
			return fmt.Errorf("memlog: repair of offset %d, which is not in a hole", r.Offset)
		}
	}
	for _, r := range recs {
		l.recs[r.Offset-l.start] = cloneRec(r)
		delete(l.lost, r.Offset)
	}
	return nil
}

func (l *memLog) Meta() []byte { return slices.Clone(l.meta) }
func (l *memLog) SetMeta(b []byte) error {
	l.writing()
	if l.failWrites != nil {
		return l.failWrites
	}
	l.meta = slices.Clone(b)
	return nil
}

// memStore holds a node's logs; maxRecords (0: unlimited) is the retention
// of every log it creates.
type memStore struct {
	topics     map[string]*memLog
	maxRecords uint64
	onTrim     func(topic string, off uint64, r record.Record) // see memLog.onTrim
	applying   bool                                            // set by apply: the only time a write is allowed
	applied    int                                             // writes made, for tests
	// full, when set, fails every record write (Append, AppendAt,
	// RepairRange) of every log cleanly, as a full disk does; refused
	// counts them.
	full    error
	refused int
}

// apply makes a Ready's writes as the runtime does; any write made at
// another time panics (memLog.writing).
func (s *memStore) apply(ws []Write) []error {
	s.applying = true
	defer func() { s.applying = false }()
	s.applied += len(ws)
	return ApplyWrites(ws)
}

func newMemStore() *memStore { return &memStore{topics: map[string]*memLog{}} }

func (s *memStore) Topic(name string) (Log, error) {
	l, ok := s.topics[name]
	if !ok {
		l = &memLog{maxRecords: s.maxRecords, floor: math.MaxUint64, store: s}
		if s.onTrim != nil {
			l.onTrim = func(off uint64, r record.Record) { s.onTrim(name, off, r) }
		}
		s.topics[name] = l
	}
	return l, nil
}

func (s *memStore) Topics() []string {
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
