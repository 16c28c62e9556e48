package topiclog

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/logstream/logstream/pkg/record"
)

// Read returns records from offset from onwards: at most maxRecords (no
// count limit if <= 0) and, after the first, no more than maxBytes of
// stored entries (DefaultReadBytes if <= 0). The first available record is
// always returned even when it alone exceeds maxBytes.
//
// from < StartOffset() or > NextOffset() is an *OffsetError (errors.Is
// ErrOffsetOutOfRange); from == NextOffset() returns no records and nil.
// Returned payloads are freshly allocated and belong to the caller.
//
// Damaged records are never returned. A cut-out range (see Damaged) ends
// a batch: the records of one call are contiguous, and a read that starts
// inside the range returns records from the first intact offset after it,
// so a caller sees the gap as recs[0].Offset > from. A bad checksum met
// here is cut out the same way (reported once) rather than returned as an
// error; only I/O errors are.
func (l *Log) Read(from uint64, maxRecords int, maxBytes int) ([]record.Record, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultReadBytes
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if from < l.start || from > l.next {
		return nil, &OffsetError{Offset: from, Start: l.start, Next: l.next}
	}
	if from == l.next {
		return nil, nil
	}
	rd := segReader{l: l, from: from, maxRecords: maxRecords, maxBytes: maxBytes}
	if maxRecords > 0 {
		rd.out = make([]record.Record, 0, min(maxRecords, 1024))
	}
	for k := l.segIndex(from); k < len(l.segs); k++ {
		if done, err := rd.segment(l.segs[k]); done || err != nil {
			return rd.out, err
		}
	}
	return rd.out, nil
}

// segReader is one Read call's progress. Caller holds l.mu for reading.
type segReader struct {
	l          *Log
	from       uint64 // next offset wanted
	out        []record.Record
	total      int // stored bytes of out
	maxRecords int
	maxBytes   int
}

// segment reads seg from rd.from on; done means the batch is complete (a
// limit, or a hole after some records).
func (rd *segReader) segment(seg *segment) (done bool, err error) {
	holes := seg.holeList()
	for _, h := range holes { // a read that starts in a hole starts after it
		if rd.from >= h.from && rd.from < h.to {
			if len(rd.out) > 0 {
				return true, nil
			}
			rd.from = h.to
		}
	}
	if rd.from >= seg.next {
		return false, nil
	}
	e := seg.index[floorRel(seg.index, rd.from-seg.base)]
	pos, expect := int64(e.pos), seg.base+uint64(e.rel)
	for _, h := range holes { // start past a hole between the index point and from
		if h.to <= rd.from && h.end >= pos && h.to >= expect {
			pos, expect = h.end, h.to
		}
	}
	// Read enough in one pread for the skip to from plus maxBytes.
	chunk := int(min(seg.size-pos, int64(rd.maxBytes)+int64(rd.maxBytes)/8+2*indexIntervalBytes))
	sc := newScanner(seg.log, pos, seg.size, chunk, true)
	hi := 0
	for {
		p := sc.pos()
		for hi < len(holes) && (holes[hi].end < p || holes[hi].end == p && holes[hi].pos < p) {
			hi++ // behind us
		}
		if hi < len(holes) && holes[hi].pos <= p {
			if len(rd.out) > 0 {
				return true, nil // a batch never spans a hole
			}
			h := holes[hi]
			hi++
			sc = newScanner(seg.log, h.end, seg.size, chunk, true)
			expect = h.to
			rd.from = max(rd.from, h.to)
			continue
		}
		r, p, err := sc.next()
		if errors.Is(err, io.EOF) {
			rd.from = max(rd.from, seg.next)
			return false, nil
		}
		if err == nil && r.Offset != expect {
			err = fmt.Errorf("%w: entry at position %d has offset %d, want %d", ErrCorrupt, p, r.Offset, expect)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, errTorn) {
				return true, fmt.Errorf("topic %s: read %s at offset %d: %w", rd.l.name, segFile(seg), expect, err)
			}
			if err := rd.l.cutOut(seg, p, expect); err != nil {
				return true, err
			}
			holes, hi = seg.holeList(), 0
			continue
		}
		expect++
		if r.Offset < rd.from {
			continue
		}
		n := int(sc.pos() - p)
		if len(rd.out) > 0 && rd.total+n > rd.maxBytes {
			return true, nil
		}
		rd.out = append(rd.out, r)
		rd.total += n
		rd.from = r.Offset + 1
		if rd.maxRecords > 0 && len(rd.out) >= rd.maxRecords {
			return true, nil
		}
	}
}

// segIndex returns the index in segs of the segment holding offset off
// (the last one whose base <= off). Caller holds mu.
func (l *Log) segIndex(off uint64) int {
	return max(0, sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > off })-1)
}

func segFile(s *segment) string { return fmt.Sprintf("%020d%s", s.base, logExt) }

// OffsetForTime returns the first retained offset whose record Timestamp >=
// unixNano, or NextOffset() if there is none. It finds the segment by its
// maximum timestamp, binary-searches that segment's index and scans at most
// one index interval. If that scan meets damaged bytes it returns the offset
// reached, where a Read will report the damage.
func (l *Log) OffsetForTime(unixNano int64) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, seg := range l.segs {
		if seg.next <= l.start || seg.maxTs < unixNano {
			continue // every record here is older than unixNano, or gone
		}
		i := floorTs(seg.index, unixNano)
		if i < 0 {
			return max(seg.base, l.start) // unixNano is math.MinInt64: any record qualifies
		}
		e := seg.index[i]
		sc := newScanner(seg.log, int64(e.pos), seg.size, 2*indexIntervalBytes, false)
		off := seg.base + uint64(e.rel)
		for {
			r, _, err := sc.next()
			if err != nil || r.Offset != off {
				return max(off, l.start)
			}
			if r.Timestamp >= unixNano && off >= l.start {
				return off
			}
			off++
		}
	}
	return l.next
}
