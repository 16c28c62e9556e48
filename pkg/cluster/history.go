package cluster

import (
	"encoding/binary"
	"errors"
	"slices"
)

// A topic's epoch history records in which view each range of its log was
// appended: entry i covers offsets [h[i].Start, h[i+1].Start). Two logs that
// hold a record of the same epoch at the same offset are identical up to
// there (one owner per topic per view, appending only), so the history alone
// tells where two logs diverge. The last entry's epoch is the log's label:
// when a member catches up with a view's agreed log it appends an entry
// (view, agreed end), possibly empty, so the label says "this log extends the
// agreed log of view L" — logs are compared by (label, length) in recovery,
// as Raft compares (last term, last index) and VR (view, op number).

// validHistory reports whether epochs strictly increase and starts never
// decrease.
func validHistory(h []Epoch) bool {
	for i := 1; i < len(h); i++ {
		if h[i].Epoch <= h[i-1].Epoch || h[i].Start < h[i-1].Start {
			return false
		}
	}
	return true
}

// clipHistory drops the entries that start beyond end (a log of end records).
// An entry starting exactly at end is kept: it is the log's label.
func clipHistory(h []Epoch, end uint64) []Epoch {
	i := len(h)
	for i > 0 && h[i-1].Start > end {
		i--
	}
	return h[:i:i]
}

// label is the epoch of the history's last entry (0 for none).
func label(h []Epoch) uint64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Epoch
}

// epochAt returns the epoch of the record at off and where that epoch's range
// starts.
func epochAt(h []Epoch, off uint64) (epoch, start uint64) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Start <= off {
			return h[i].Epoch, h[i].Start
		}
	}
	return 0, 0
}

// pushEpoch appends (epoch, start), replacing a last entry that would be empty.
func pushEpoch(h []Epoch, epoch, start uint64) []Epoch {
	h = slices.Clone(h)
	if n := len(h); n > 0 {
		if h[n-1].Epoch >= epoch {
			return h
		}
		if h[n-1].Start == start {
			h[n-1].Epoch = epoch
			return h
		}
	}
	return append(h, Epoch{Epoch: epoch, Start: start})
}

// divergence returns the length of the longest common prefix of two logs
// given their histories and lengths: the largest x such that every offset
// below x has the same epoch in both.
func divergence(a []Epoch, aEnd uint64, b []Epoch, bEnd uint64) uint64 {
	x := min(aEnd, bEnd)
	for x > 0 {
		ea, sa := epochAt(a, x-1)
		eb, sb := epochAt(b, x-1)
		if ea == eb {
			return x
		}
		// Offsets in [max(sa, sb), x) carry epoch ea in a and eb in b: all differ.
		x = max(sa, sb)
	}
	return 0
}

// newer reports whether log (la, ea) is more up to date than (lb, eb).
func newer(la, ea, lb, eb uint64) bool {
	if la != lb {
		return la > lb
	}
	return ea > eb
}

var errBadMeta = errors.New("cluster: corrupt epoch history in topic meta")

// Topic Meta layout: 'E', uvarint count, then (uvarint epoch, uvarint start).
func encodeHistory(h []Epoch) []byte {
	b := []byte{'E'}
	b = binary.AppendUvarint(b, uint64(len(h)))
	for _, e := range h {
		b = binary.AppendUvarint(b, e.Epoch)
		b = binary.AppendUvarint(b, e.Start)
	}
	return b
}

func decodeHistory(b []byte) ([]Epoch, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != 'E' {
		return nil, errBadMeta
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxEpochs || n > uint64(len(b)) {
		return nil, errBadMeta
	}
	b = b[k:]
	h := make([]Epoch, 0, n)
	for range n {
		e, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return nil, errBadMeta
		}
		s, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 {
			return nil, errBadMeta
		}
		b = b[k1+k2:]
		h = append(h, Epoch{Epoch: e, Start: s})
	}
	if len(b) != 0 || !validHistory(h) {
		return nil, errBadMeta
	}
	return h, nil
}
