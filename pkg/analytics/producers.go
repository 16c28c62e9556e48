package analytics

import (
	"math"
	"strings"
)

// maxProducers bounds the producers tracked by name in one Window. A topic
// written by more producers at once folds the excess into otherProducers, so
// a flood of distinct ids cannot grow the broker's memory.
const maxProducers = 100

// otherProducers is the ProducerID under which records of untracked
// producers are counted. The parentheses keep it apart from --name values a
// user is likely to choose.
const otherProducers = "(other)"

// otherSlot is the slot that counts untracked producers; it is never freed.
const otherSlot = 0

// producerTable maps producer ids to slots and keeps each slot's count within
// the window. A slot is freed as soon as its count drops to zero, i.e. when
// the producer's last record leaves the window, so a producer that stopped is
// forgotten and its slot can go to a new one.
type producerTable struct {
	index map[string]int32
	slots []producer
	free  []int32
}

type producer struct {
	id    string
	count uint64
	live  bool
	// lastIdx is the newest bucket index this slot has an entry in, and
	// pos the entry's position in that bucket: the fast path for the
	// common case of a producer writing repeatedly into the head bucket.
	lastIdx int64
	pos     int32
}

func (t *producerTable) init() {
	t.index = make(map[string]int32)
	t.slots = append(t.slots, producer{id: otherProducers, live: true, lastIdx: math.MinInt64})
}

// slotFor returns the slot of id, assigning a free one if id is new, or
// otherSlot when maxProducers are already tracked.
func (t *producerTable) slotFor(id string) int32 {
	if s, ok := t.index[id]; ok {
		return s
	}
	var s int32
	switch {
	case len(t.free) > 0:
		s = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	case len(t.slots) <= maxProducers:
		s = int32(len(t.slots))
		t.slots = append(t.slots, producer{})
	default:
		return otherSlot
	}
	// Clone so the table never pins a caller's larger buffer (an id
	// sliced out of a network frame, say).
	id = strings.Clone(id)
	t.slots[s] = producer{id: id, live: true, lastIdx: math.MinInt64}
	t.index[id] = s
	return s
}

// count adds one record of slot to bucket b, whose index is idx. Each bucket
// holds at most one entry per slot; the hint finds it in O(1) when the slot
// last wrote here, a producer's first record in a newer bucket appends, and
// only a record placed in an older bucket (time moved backwards) searches,
// over at most maxProducers+1 entries.
func (t *producerTable) count(b *bucket, slot int32, idx int64) {
	p := &t.slots[slot]
	p.count++
	switch {
	case p.lastIdx == idx && int(p.pos) < len(b.entries) && b.entries[p.pos].slot == slot:
		b.entries[p.pos].count++
		return
	case idx > p.lastIdx:
		// lastIdx is the newest bucket the slot wrote to, so it has no
		// entry in this newer one yet.
		b.entries = append(b.entries, entry{slot: slot, count: 1})
		p.lastIdx = idx
		p.pos = int32(len(b.entries) - 1)
		return
	}
	for i := range b.entries {
		if b.entries[i].slot == slot {
			b.entries[i].count++
			return
		}
	}
	b.entries = append(b.entries, entry{slot: slot, count: 1})
}

// uncount removes an expired entry and frees its slot once it holds nothing.
func (t *producerTable) uncount(e entry) {
	p := &t.slots[e.slot]
	p.count -= e.count
	if p.count > 0 {
		return
	}
	if e.slot == otherSlot {
		p.lastIdx = math.MinInt64
		return
	}
	delete(t.index, p.id)
	*p = producer{}
	t.free = append(t.free, e.slot)
}

// counts lists the slots holding records, unsorted.
func (t *producerTable) counts() []ProducerCount {
	out := make([]ProducerCount, 0, len(t.index)+1)
	for _, p := range t.slots {
		if p.live && p.count > 0 {
			out = append(out, ProducerCount{ProducerID: p.id, Count: p.count})
		}
	}
	return out
}
