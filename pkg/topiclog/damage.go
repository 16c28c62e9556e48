package topiclog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/logstream/logstream/pkg/record"
)

// Damage is one damaged range of a topic's files, found by the check every
// segment gets at open or by a read that met a bad checksum. Data damage
// loses the records [From, To) (the bytes [Pos, End) of File): the log cuts
// them out and readers skip them. Index damage loses nothing (File is the
// .idx; the index is rebuilt from the log). A torn tail (the last segment
// ends inside a record) is cut off as before; its lost records are unknown.
//
// A replica that holds the range intact can repair it (see Damaged and the
// README): the records [From, To) are what it must fetch.
type Damage struct {
	Topic  string `json:"topic"`
	File   string `json:"file"`
	Kind   string `json:"kind"` // DamageData, DamageIndex or DamageTail
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Pos    int64  `json:"pos"`
	End    int64  `json:"end"`
	Action string `json:"action"`
	// Repaired counts the records of [From, To) written back since from a
	// replica (RepairRange); Action then says so. Lost() - Repaired are
	// still missing.
	Repaired uint64 `json:"repaired,omitempty"`
}

// Kinds of Damage.
const (
	DamageData  = "data"
	DamageIndex = "index"
	DamageTail  = "tail"
)

// Lost is the number of records the damage removed from the log.
func (d Damage) Lost() uint64 {
	if d.Kind != DamageData {
		return 0
	}
	return d.To - d.From
}

func (d Damage) String() string {
	repaired := ""
	if d.Repaired > 0 {
		repaired = fmt.Sprintf(", %d repaired", d.Repaired)
	}
	return fmt.Sprintf("topic %s %s: %s damage, offsets [%d, %d) (%d lost%s), bytes %d-%d: %s",
		d.Topic, d.File, d.Kind, d.From, d.To, d.Lost(), repaired, d.Pos, d.End, d.Action)
}

// maxDamageReports bounds the reports a Log keeps (a dying disk must not
// grow memory); DamageCount still counts every one.
const maxDamageReports = 64

// hole is a cut-out range of a segment: records [from, to) are gone and the
// bytes [pos, end) are skipped by readers. A hole with pos == end marks
// offsets that are missing between two intact records.
type hole struct {
	from, to uint64
	pos, end int64
}

// holeList is the segment's holes, sorted by position (and so by offset).
func (s *segment) holeList() []hole {
	if h := s.holes.Load(); h != nil {
		return *h
	}
	return nil
}

func (s *segment) setHoles(h []hole) {
	if len(h) == 0 {
		s.holes.Store(nil)
		return
	}
	s.holes.Store(&h)
}

// Damaged returns the damage found in this log since it was opened, oldest
// first (at most maxDamageReports).
func (l *Log) Damaged() []Damage {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	return slices.Clone(l.damage)
}

// DamageCount is how many damaged ranges were found since the log was opened.
func (l *Log) DamageCount() uint64 {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	return l.damageCount
}

// report records d and logs it in one line (a torn tail keeps its own
// warning, logged by load).
func (l *Log) report(d Damage, log bool) {
	d.Topic = l.name
	l.dmu.Lock()
	l.damageCount++
	if len(l.damage) < maxDamageReports {
		l.damage = append(l.damage, d)
	}
	l.dmu.Unlock()
	if !log {
		return
	}
	l.logger.Error().Str("file", d.File).Str("kind", d.Kind).Uint64("from", d.From).Uint64("to", d.To).
		Uint64("records_lost", d.Lost()).Int64("pos", d.Pos).Int64("end", d.End).Str("action", d.Action).
		Msgf("damaged log range: %s of %s, offsets [%d, %d), bytes %d-%d: %s", d.Kind, d.File, d.From, d.To, d.Pos, d.End, d.Action)
}

const (
	actionCutOut  = "cut out: readers skip these offsets, appends go on"
	actionIndex   = "index rebuilt from the log: no records lost"
	actionRuntime = "found by a read; cut out: readers skip these offsets, appends go on"
)

func dataDamage(seg *segment, h hole, action string) Damage {
	return Damage{File: segFile(seg), Kind: DamageData, From: h.from, To: h.to, Pos: h.pos, End: h.end, Action: action}
}

// cutOut handles a bad entry a read met at position p of seg, where offset
// expect belongs: it finds the next intact entry, records the hole between
// and reports it, unless another reader did so first. Caller holds mu for
// reading.
func (l *Log) cutOut(seg *segment, p int64, expect uint64) error {
	h, fresh, err := l.findHole(seg, p, expect)
	if err != nil {
		return fmt.Errorf("topic %s: read %s at offset %d: %w", l.name, segFile(seg), expect, err)
	}
	if fresh {
		l.report(dataDamage(seg, h, actionRuntime), true)
	}
	return nil
}

// findHole returns the hole covering p, adding it to seg if no reader has
// yet (fresh). Readers serialise here so each hole is found once.
func (l *Log) findHole(seg *segment, p int64, expect uint64) (h hole, fresh bool, err error) {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	holes := seg.holeList()
	for _, h := range holes {
		if h.pos <= p && p < h.end {
			return h, false, nil
		}
	}
	q, r, found, err := resync(seg.log, p, seg.size, expect, seg.next)
	if err != nil {
		return h, false, err
	}
	h = hole{from: expect, to: seg.next, pos: p, end: seg.size}
	if found {
		h.to, h.end = r.Offset, q
	}
	i := sort.Search(len(holes), func(i int) bool { return holes[i].pos > p })
	seg.setHoles(slices.Insert(slices.Clone(holes), i, h))
	return h, true, nil
}

// minEntryBytes is the smallest stored entry (header and a record with an
// empty producer id and payload), so n bytes hold at most n/minEntryBytes
// records.
const minEntryBytes = entryHeader + 5

// resync finds the first intact entry after damaged bytes starting at p,
// below end: one whose checksum holds, whose offset is at least expect and
// below limit, and no larger than the skipped bytes could have held. It
// tests every byte position but reads a candidate's body (and computes its
// checksum) only when its length and leading offset are plausible, so
// garbage costs little. found is false when no intact entry follows.
func resync(f io.ReaderAt, p, end int64, expect, limit uint64) (q int64, r record.Record, found bool, err error) {
	const win = 64 << 10
	const look = entryHeader + binary.MaxVarintLen64
	buf := make([]byte, win+look)
	for at := p + 1; at < end; at += win {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), end-at)], at)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, r, false, err
		}
		for i := 0; i < min(n, win); i++ {
			q = at + int64(i)
			h := buf[i:n]
			if len(h) < entryHeader+1 {
				break
			}
			ln := int64(binary.BigEndian.Uint32(h))
			if ln == 0 || ln > MaxEntryBytes || q+entryHeader+ln > end {
				continue
			}
			off, k := binary.Uvarint(h[entryHeader:min(int64(len(h)), entryHeader+ln)])
			if k <= 0 || off < expect || off >= limit || off-expect > uint64(q-p)/minEntryBytes+1 {
				continue
			}
			e := h[:min(int64(len(h)), entryHeader+ln)]
			if int64(len(e)) < entryHeader+ln {
				e = make([]byte, entryHeader+ln)
				if _, err := f.ReadAt(e, q); err != nil {
					return 0, r, false, err
				}
			}
			if r, err := decodeEntry(e); err == nil && r.Offset == off {
				r.Payload = slices.Clone(r.Payload)
				return q, r, true, nil
			}
		}
	}
	return 0, r, false, nil
}
