// Package groups is the pure part of consumer groups (no I/O; time is
// passed in):
//
//   - Table: a group's position in a topic is a record of the reserved,
//     replicated offsets topic (cluster.OffsetsTopic) whose payload is a
//     wire.GroupPosition; the newest such record per (group, topic), in log
//     order, is the position. A Table is that rebuild: feed it the offsets
//     topic's records in offset order.
//   - Share (share.go): how the members of one group split a topic — leases
//     of offset ranges, acknowledgements, redelivery, and the position as
//     the contiguous acknowledged prefix. The topic's owner runs one per
//     (group, topic) with live members (pkg/broker/groupshare.go).
package groups

import (
	"cmp"
	"slices"
	"time"

	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// DefaultExpiry is how long a group that acknowledges nothing keeps its
// positions: an entry whose last acknowledgement is older is no longer
// listed, used or kept inside the retention window (Kafka's default
// offsets retention is the same 7 days).
const DefaultExpiry = 7 * 24 * time.Hour

// Key names one position.
type Key struct{ Group, Topic string }

// Entry is a group's position in one topic.
type Entry struct {
	Next   uint64 // first offset not acknowledged
	At     int64  // when it was acknowledged (Unix ns, the consumer's clock)
	Member string // the consumer that acknowledged it
	Offset uint64 // where the record that set it lies in the offsets topic
}

// Table is the newest position per (group, topic).
type Table struct {
	m    map[Key]Entry
	next uint64 // offsets-topic offset after the last record applied
}

// Len is the number of positions held (expired ones included).
func (t *Table) Len() int { return len(t.m) }

// Next is the offsets-topic offset after the last record applied.
func (t *Table) Next() uint64 { return t.next }

// Apply takes one record of the offsets topic. Records must come in offset
// order; a payload that is not a GroupPosition is ignored (the broker
// refuses them, so none is expected).
func (t *Table) Apply(r *record.Record) {
	t.next = max(t.next, r.Offset+1)
	p, err := wire.UnmarshalGroupPosition(r.Payload)
	if err != nil {
		return
	}
	if t.m == nil {
		t.m = map[Key]Entry{}
	}
	switch p.Kind {
	case wire.GroupCommit:
		t.m[Key{p.Group, p.Topic}] = Entry{Next: p.Next, At: p.At, Member: p.Member, Offset: r.Offset}
	case wire.GroupDelete:
		for k := range t.m {
			if k.Group == p.Group {
				delete(t.m, k)
			}
		}
	}
}

// Position is the group's position in topic, if it has one.
func (t *Table) Position(group, topic string) (Entry, bool) {
	e, ok := t.m[Key{group, topic}]
	return e, ok
}

// Positions lists every position not older than expiry at now (expiry <= 0:
// all), sorted by group then topic.
func (t *Table) Positions(now time.Time, expiry time.Duration) []Position {
	out := make([]Position, 0, len(t.m))
	for k, e := range t.m {
		if !Expired(e, now, expiry) {
			out = append(out, Position{Key: k, Entry: e})
		}
	}
	slices.SortFunc(out, func(a, b Position) int {
		if a.Group != b.Group {
			return cmp.Compare(a.Group, b.Group)
		}
		return cmp.Compare(a.Topic, b.Topic)
	})
	return out
}

// Position is one (group, topic) and its entry.
type Position struct {
	Key
	Entry
}

// Expired reports whether e was last acknowledged more than expiry before now.
func Expired(e Entry, now time.Time, expiry time.Duration) bool {
	return expiry > 0 && now.UnixNano()-e.At > int64(expiry)
}

// Stale lists, for the offsets topic's owner, the live positions whose
// record lies in the older half of a retention window of keep records
// ending at end: they must be written again (a refresh) before retention
// removes them. At most limit are returned, oldest record first.
func (t *Table) Stale(end, keep uint64, now time.Time, expiry time.Duration, limit int) []Position {
	if keep == 0 || end <= keep/2 {
		return nil
	}
	below := end - keep/2
	var out []Position
	for k, e := range t.m {
		if e.Offset < below && !Expired(e, now, expiry) {
			out = append(out, Position{Key: k, Entry: e})
		}
	}
	slices.SortFunc(out, func(a, b Position) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Refresh is the payload that writes p again, unchanged but for the flag.
func Refresh(p Position) []byte {
	return wire.GroupPosition{Kind: wire.GroupCommit, Group: p.Group, Topic: p.Topic, Next: p.Next, At: p.At,
		Member: p.Member, Refresh: true}.Marshal()
}
