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
// A damaged entry ends the batch before it; a read that starts at a damaged
// entry returns an error wrapping ErrCorrupt, and a read from the offset
// after it works as long as the damage spared the entry's length field.
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
	var out []record.Record
	if maxRecords > 0 {
		out = make([]record.Record, 0, min(maxRecords, 1024))
	}
	total := 0
	for k := l.segIndex(from); k < len(l.segs); k++ {
		seg := l.segs[k]
		if from >= seg.next {
			continue
		}
		e := seg.index[floorRel(seg.index, from-seg.base)]
		// Read enough in one pread for the skip to from plus maxBytes.
		chunk := int(min(seg.size-int64(e.pos), int64(maxBytes)+int64(maxBytes)/8+2*indexIntervalBytes))
		sc := newScanner(seg.log, int64(e.pos), seg.size, chunk, true)
		expect := seg.base + uint64(e.rel)
		for {
			r, p, err := sc.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil && r.Offset != expect {
				err = fmt.Errorf("%w: entry at position %d has offset %d, want %d", ErrCorrupt, p, r.Offset, expect)
			} else if err != nil && expect < from && sc.skipBad() {
				// A damaged record before the one asked for: step over it so a
				// consumer can move past it; the next offset check confirms.
				expect++
				continue
			}
			if err != nil {
				if len(out) > 0 {
					return out, nil
				}
				if errors.Is(err, errTorn) {
					err = fmt.Errorf("%w: entry at position %d cut short", ErrCorrupt, p)
				}
				return nil, fmt.Errorf("topic %s: read %s at offset %d: %w", l.name, segFile(seg), expect, err)
			}
			expect++
			if r.Offset < from {
				continue
			}
			n := int(sc.pos() - p)
			if len(out) > 0 && total+n > maxBytes {
				return out, nil
			}
			out = append(out, r)
			total += n
			if maxRecords > 0 && len(out) >= maxRecords {
				return out, nil
			}
		}
		from = seg.next
	}
	return out, nil
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
