package cluster

import (
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// Repair of damaged storage. The log cuts out a range whose checksums fail
// (Log.Holes); readers skip it. In a cluster the same records are held
// intact by other members: every log of the view is a prefix of the
// owner's (adopt cut whatever diverged; replication only extends it), so
// any member whose log reaches past the hole holds exactly the records that
// were lost. The damaged member asks them in turn — the owner first — with
// an ordinary FETCH, and writes what comes back into the hole
// (Log.RepairRange). A member that has the hole itself answers with nothing
// (a read never spans a hole), and the next one is asked. Only when no
// member holds the range do the records stay cut out, as on a lone broker.

// repair asks the next member for the records of our first hole, at most
// once per FollowerHBInterval per topic.
func (n *Node) repair(now time.Time, t *topic) {
	if t.view != n.view.Number || n.frozen() || now.Sub(t.repairAt) < n.cfg.FollowerHBInterval {
		return
	}
	holes := t.log.Holes()
	if len(holes) == 0 {
		t.repairNext = 0
		return
	}
	peers := n.repairPeers(t)
	if len(peers) == 0 {
		return // nobody to ask: the records stay cut out
	}
	h := holes[0]
	to := peers[t.repairNext%len(peers)]
	if t.repairNext > 0 && t.repairNext%len(peers) == 0 {
		n.log.Warn().Str("topic", t.name).Uint64("from", h.From).Uint64("to", h.To).
			Msg("REPLICATE: no member answered with the damaged records yet; asking again")
	}
	t.repairNext++
	t.repairAt, t.repairFrom = now, to
	n.log.Info().Str("topic", t.name).Uint64("from", h.From).Uint64("to", h.To).Uint64("peer", uint64(to)).
		Msg("REPLICATE: asking a replica for damaged records")
	n.send(to, &Fetch{From: n.id, View: n.view.Number, Topic: t.name, Offset: h.From, Max: uint32(min(h.To-h.From, uint64(n.cfg.MaxBatch)))})
}

// repairPeers lists the members to ask, the owner first.
func (n *Node) repairPeers(t *topic) []NodeID {
	var out []NodeID
	if t.owner != n.id && n.view.Has(t.owner) {
		out = append(out, t.owner)
	}
	for _, id := range n.view.IDs() {
		if id != n.id && id != t.owner && !n.isUnreachable(id) {
			out = append(out, id)
		}
	}
	return out
}

// repairWith writes the part of a FETCH answer that falls in one of our
// holes into it, and reports whether the answer was for a repair (records
// below our end) — then it is not also taken as catch-up.
func (n *Node) repairWith(t *topic, from NodeID, recs []record.Record) bool {
	if len(recs) == 0 || recs[0].Offset >= t.log.NextOffset() || from != t.repairFrom {
		return false
	}
	for _, h := range t.log.Holes() {
		if recs[0].Offset < h.From || recs[0].Offset >= h.To {
			continue
		}
		k := 0
		for k < len(recs) && recs[k].Offset < h.To {
			k++
		}
		if !n.wrote(dataWrite, t.log.RepairRange(recs[:k]), "REPLICATE: repairing damaged records of "+t.name) {
			return true // a clean refusal: the next round asks again
		}
		n.log.Info().Str("topic", t.name).Uint64("from", recs[0].Offset).Uint64("to", recs[k-1].Offset+1).Uint64("peer", uint64(from)).
			Msg("REPLICATE: damaged records repaired from a replica")
		t.repairAt, t.repairNext = time.Time{}, 0 // more holes: go on at once
		t.dedupe = nil                            // rebuilt with the records back
		return true
	}
	return true
}
