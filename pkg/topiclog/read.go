package topiclog

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

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
	err := rd.segments()
	return rd.out, err
}

// RawBatch is what ReadRaw read: records as stored, never decoded.
type RawBatch struct {
	// Encoded holds the records' encodings back to back
	// (record.AppendBinary each, the form wire messages carry records in).
	Encoded      []byte
	Count        int    // records in Encoded
	First        uint64 // offset of the first (meaningless when Count is 0)
	Next         uint64 // offset after the last
	PayloadBytes int    // their payloads' bytes
}

// ReadRaw is Read for a caller that passes the records on encoded, as a
// broker streaming them to a consumer does: it checks every entry as Read
// does (checksum, format, offset; damage is cut out the same way) but
// builds no record, and appends their encodings to dst, so the bytes go
// from the file to the frame with no decoding and no allocation per
// record. It reads no record at or beyond end (the commit point), and
// returns the same records Read(from, maxRecords, maxBytes) would, up to
// end.
func (l *Log) ReadRaw(from uint64, maxRecords, maxBytes int, end uint64, dst []byte) (RawBatch, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultReadBytes
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return RawBatch{Encoded: dst}, ErrClosed
	}
	if from < l.start || from > l.next {
		return RawBatch{Encoded: dst}, &OffsetError{Offset: from, Start: l.start, Next: l.next}
	}
	rd := segReader{l: l, from: from, maxRecords: maxRecords, maxBytes: maxBytes, raw: true, end: end,
		batch: RawBatch{Encoded: dst}}
	if from == l.next || from >= end {
		return rd.batch, nil
	}
	rbuf := readBufs.Get().(*[]byte)
	rd.rbuf = (*rbuf)[:0]
	err := rd.segments()
	if cap(rd.rbuf) <= keepReadBytes {
		*rbuf = rd.rbuf[:0]
		readBufs.Put(rbuf)
	}
	return rd.batch, err
}

// readBufs holds ReadRaw's file read buffers between calls, shared by every
// reader of the process: a buffer per call was most of what a broker with a
// hundred consumers allocated.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// keepReadBytes is the largest read buffer kept for the next ReadRaw.
const keepReadBytes = 1 << 20

// segReader is one Read or ReadRaw call's progress. Caller holds l.mu for
// reading.
type segReader struct {
	l          *Log
	from       uint64 // next offset wanted
	out        []record.Record
	n          int // records kept (in out, or in batch when raw)
	total      int // stored bytes of what was kept
	maxRecords int
	maxBytes   int

	raw   bool     // keep encodings in batch, not records in out
	rbuf  []byte   // raw: the file read buffer, handed from scanner to scanner
	end   uint64   // raw: read nothing at or beyond this offset
	batch RawBatch // raw: what was kept
}

func (rd *segReader) segments() error {
	for k := rd.l.segIndex(rd.from); k < len(rd.l.segs); k++ {
		if done, err := rd.segment(rd.l.segs[k]); done || err != nil {
			return err
		}
	}
	return nil
}

// scanner starts a scan; in raw mode it reads into the call's read buffer
// (what it returns is copied out at once, so the buffer is reused).
func (rd *segReader) scanner(f io.ReaderAt, start, end int64, chunk int, fresh bool) *scanner {
	sc := newScanner(f, start, end, chunk, fresh)
	if rd.raw {
		sc.buf, rd.rbuf = rd.rbuf[:0], nil
	}
	return sc
}

// done takes back a finished scanner's read buffer (raw mode).
func (rd *segReader) done(sc *scanner) {
	if rd.raw && sc.buf != nil {
		rd.rbuf, sc.buf = sc.buf[:0], nil
	}
}

// entry is one checked entry the scanner read: the record (decoded unless
// raw) or its encoding.
type entry struct {
	off     uint64
	rec     record.Record
	body    []byte
	payload int
}

// next reads the next entry into *e: filled in place, since an entry (a
// record and more) returned by value per entry was a tenth of a catch-up
// read's time.
func (rd *segReader) next(sc *scanner, e *entry) (int64, error) {
	var p int64
	var err error
	if rd.raw {
		e.body, e.off, e.payload, p, err = sc.nextRaw()
		return p, err
	}
	e.rec, p, err = sc.next()
	e.off = e.rec.Offset
	return p, err
}

func (rd *segReader) keep(e *entry) {
	rd.n++
	if rd.raw {
		b := &rd.batch
		if b.Count == 0 {
			b.First = e.off
		}
		b.Encoded = append(b.Encoded, e.body...)
		b.Count++
		b.Next = e.off + 1
		b.PayloadBytes += e.payload
		return
	}
	rd.out = append(rd.out, e.rec)
}

// segment reads seg from rd.from on; done means the batch is complete (a
// limit, or a hole after some records).
func (rd *segReader) segment(seg *segment) (done bool, err error) {
	holes := seg.holeList()
	for _, h := range holes { // a read that starts in a hole starts after it
		if rd.from >= h.from && rd.from < h.to {
			if rd.n > 0 {
				return true, nil
			}
			rd.from = h.to
		}
	}
	if rd.from >= seg.next {
		return false, nil
	}
	ie := seg.index[floorRel(seg.index, rd.from-seg.base)]
	pos, expect := int64(ie.pos), seg.base+uint64(ie.rel)
	for _, h := range holes { // start past a hole between the index point and from
		if h.to <= rd.from && h.end >= pos && h.to >= expect {
			pos, expect = h.end, h.to
		}
	}
	// Read enough in one pread for the skip to from plus maxBytes.
	chunk := int(min(seg.size-pos, int64(rd.maxBytes)+int64(rd.maxBytes)/8+2*indexIntervalBytes))
	// Decoded records alias the buffer, so each refill takes a fresh one;
	// raw bodies are copied out at once and the buffer is reused.
	fresh := !rd.raw
	sc := rd.scanner(seg.log, pos, seg.size, chunk, fresh)
	if first := rd.firstRead(seg, rd.from-expect); first > 0 {
		sc.chunk = min(first, chunk)
	}
	defer func() { rd.done(sc) }()
	hi := 0
	var e entry
	for {
		p := sc.pos()
		for hi < len(holes) && (holes[hi].end < p || holes[hi].end == p && holes[hi].pos < p) {
			hi++ // behind us
		}
		if hi < len(holes) && holes[hi].pos <= p {
			if rd.n > 0 {
				return true, nil // a batch never spans a hole
			}
			h := holes[hi]
			hi++
			rd.done(sc)
			sc = rd.scanner(seg.log, h.end, seg.size, chunk, fresh)
			expect = h.to
			rd.from = max(rd.from, h.to)
			continue
		}
		p, err := rd.next(sc, &e)
		if errors.Is(err, io.EOF) {
			rd.from = max(rd.from, seg.next)
			return false, nil
		}
		if err == nil && e.off != expect {
			err = fmt.Errorf("%w: entry at position %d has offset %d, want %d", ErrCorrupt, p, e.off, expect)
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
		if e.off < rd.from {
			continue
		}
		if rd.raw && e.off >= rd.end {
			return true, nil
		}
		n := int(sc.pos() - p)
		if rd.n > 0 && rd.total+n > rd.maxBytes {
			return true, nil
		}
		rd.keep(&e)
		rd.total += n
		rd.from = e.off + 1
		if rd.maxRecords > 0 && rd.n >= rd.maxRecords {
			return true, nil
		}
	}
}

// firstRead is how many bytes the first pread of a count-limited read of
// seg should take: the records to skip from the index point plus those
// wanted, at the segment's average entry size, and an eighth more. The
// scanner's doubling reads from 64 KiB read half as much again as a
// 1000-record batch needs (a catch-up read's broker copied 1.5 times the
// log from the page cache). 0: no estimate (no count limit, empty segment).
func (rd *segReader) firstRead(seg *segment, skip uint64) int {
	recs := seg.next - seg.base
	if rd.maxRecords <= 0 || recs == 0 {
		return 0
	}
	want := skip + uint64(rd.maxRecords-rd.n)
	est := want * uint64(seg.size) / recs
	return int(min(est+est/8+2*entryHeader, uint64(seg.size)))
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
