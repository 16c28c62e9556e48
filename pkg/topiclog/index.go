package topiclog

import (
	"encoding/binary"
	"sort"
)

// indexEntry is one point of a segment's sparse index, kept in memory and in
// the segment's .idx file as 16 big-endian bytes:
//
//	u32 offset relative to the segment base | u32 file position | i64 maxTsBefore
//
// maxTsBefore is the largest record timestamp in the segment before this
// entry (math.MinInt64 for none). A running maximum is monotonic even when
// producers' clocks are not, which is what lets OffsetForTime binary-search:
// the first record whose timestamp >= t is also the first record at which
// the running maximum reaches t.
type indexEntry struct {
	rel         uint32
	pos         uint32
	maxTsBefore int64
}

const indexEntrySize = 16

func (e indexEntry) appendTo(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, e.rel)
	dst = binary.BigEndian.AppendUint32(dst, e.pos)
	return binary.BigEndian.AppendUint64(dst, uint64(e.maxTsBefore))
}

// decodeIndex decodes the whole entries of an .idx file, unchecked.
func decodeIndex(b []byte) []indexEntry {
	idx := make([]indexEntry, len(b)/indexEntrySize)
	for i := range idx {
		p := b[i*indexEntrySize:]
		idx[i] = indexEntry{
			rel:         binary.BigEndian.Uint32(p),
			pos:         binary.BigEndian.Uint32(p[4:]),
			maxTsBefore: int64(binary.BigEndian.Uint64(p[8:])),
		}
	}
	return idx
}

// floorRel returns the index of the last entry with rel <= rel (entry 0
// always qualifies when the index is non-empty).
func floorRel(idx []indexEntry, rel uint64) int {
	i := sort.Search(len(idx), func(i int) bool { return uint64(idx[i].rel) > rel })
	return i - 1
}

// floorTs returns the index of the last entry whose maxTsBefore < t; every
// record before that entry is older than t.
func floorTs(idx []indexEntry, t int64) int {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].maxTsBefore >= t })
	return i - 1
}
