package cluster

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/logstream/logstream/pkg/record"
)

// topic is one topic's replication state on this node.
type topic struct {
	name string
	log  *stagedLog // reads see staged writes; writes are staged (staging.go)
	hist []Epoch    // epoch history (persisted in Meta); clip to NextOffset on use

	// Assignment in the installed view.
	view   uint64 // view this state was adopted in
	owner  NodeID
	source NodeID // holder of the agreed log below end
	end    uint64 // agreed end of the view
	synced bool   // our log holds the agreed log, durably: what activation and heartbeats count
	// syncing: we caught up in this round and the label that says so is
	// staged: we take and acknowledge records past the agreed end (those
	// messages wait for the writes), but count as synced only once the
	// writes are made (Advance) — a leader counting a staged catch-up that
	// then fails could activate a view whose agreed log too few hold.
	syncing bool

	commit   uint64 // highest commit index known (may exceed our log)
	reported uint64 // committed end we hold and reported; never decreases

	dedupe map[string]seqOffset // producer → highest Seq in the log; nil until needed

	// owner
	acked   map[NodeID]uint64
	pending []pendingAck
	annAt   time.Time
	// annOwed: the commit rose since the followers were last told it. The
	// topic's next REPLICATE carries it; if none goes out first, the next
	// tick announces it (see recomputeCommit).
	annOwed bool

	// follower
	commitAt time.Time // when our commit index last rose or records came (see tickTopics)
	fetchAt  time.Time
	// While catching up: whom we asked last, and how many of our requests
	// to the source went unanswered (see fetch).
	fetchFrom NodeID
	misses    int

	// repair of damaged ranges (repair.go)
	repairAt   time.Time
	repairNext int    // which member to ask next, round robin
	repairFrom NodeID // the member asked last
}

// inSync reports whether our log holds the agreed log, counting a catch-up
// whose writes are staged: for what we accept, append and acknowledge.
func (t *topic) inSync() bool { return t.synced || t.syncing }

type seqOffset struct{ seq, off uint64 }

type pendingAck struct {
	ack     Ack
	waitEnd uint64 // acknowledged once commit reaches this end
	at      time.Time
	firsts  []producerSeq // each producer's first Seq in the batch, noted as a gap if it fails
}

type producerSeq struct {
	producer string
	seq      uint64
}

// gapKey names a producer on a topic; see Node.gaps.
type gapKey struct{ topic, producer string }

type gapEntry struct {
	seq uint64 // lowest Seq refused
	at  time.Time
}

// maxGaps bounds Node.gaps; beyond it expired entries are dropped.
const maxGaps = 4096

// firstSeqs lists each producer's first Seq in recs (Seq 0: unnumbered).
func firstSeqs(recs []record.Record) []producerSeq {
	var out []producerSeq
	for _, r := range recs {
		if r.Seq == 0 || len(out) > 0 && out[len(out)-1].producer == r.ProducerID {
			continue // the run of the producer just seen: a batch is nearly always one
		}
		if !slices.ContainsFunc(out, func(p producerSeq) bool { return p.producer == r.ProducerID }) {
			out = append(out, producerSeq{r.ProducerID, r.Seq})
		}
	}
	return out
}

// noteGap remembers that a batch starting at these Seqs was refused or not
// acknowledged: the producer's batches behind it may already be on their way
// and must wait for its resend (checked in Propose when the producer table
// does not know the producer).
func (n *Node) noteGap(now time.Time, topic string, firsts []producerSeq) {
	if len(firsts) == 0 {
		return
	}
	if n.gaps == nil {
		n.gaps = map[gapKey]gapEntry{}
	}
	if len(n.gaps) >= maxGaps {
		maps.DeleteFunc(n.gaps, func(_ gapKey, g gapEntry) bool { return now.Sub(g.at) >= n.cfg.BrokerTimeout })
	}
	for _, f := range firsts {
		k := gapKey{topic, f.producer}
		// A refusal at or below the gap renews it; one of a batch behind
		// does not, so an entry that outlived its gap cannot hold a
		// producer back for longer than BrokerTimeout.
		if g, ok := n.gaps[k]; !ok || f.seq <= g.seq || now.Sub(g.at) >= n.cfg.BrokerTimeout {
			n.gaps[k] = gapEntry{seq: f.seq, at: now}
		}
	}
}

// topicNames lists the store's topics (the node's local reserved names excluded).
func (n *Node) topicNames() []string {
	var names []string
	for _, name := range n.cfg.Store.Topics() {
		if !localTopic(name) {
			names = append(names, name)
		}
	}
	for name := range n.topics {
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// topic returns (opening if needed) the topic's state; nil if the store fails.
func (n *Node) topic(name string) *topic {
	if t, ok := n.topics[name]; ok {
		return t
	}
	if localTopic(name) {
		return nil
	}
	l, err := n.cfg.Store.Topic(name)
	if err != nil {
		n.log.Error().Err(err).Str("topic", name).Msg("cannot open topic")
		return nil
	}
	h, err := decodeHistory(l.Meta())
	if err != nil {
		n.log.Error().Err(err).Str("topic", name).Msg("ignoring epoch history")
	}
	t := &topic{name: name, log: n.stagedLog(l, name), hist: h, acked: map[NodeID]uint64{}}
	n.topics[name] = t
	// Nothing is known committed yet: retention waits (updateCommitted
	// raises the floor as the commit point becomes known).
	n.setFloor(t)
	return t
}

// setFloor lets retention trim only what we hold as committed: a record is
// never removed before a majority stored it, so the only records a member
// can miss for good are committed ones older than the retention window.
func (n *Node) setFloor(t *topic) {
	n.wrote(dataWrite, t.log.SetRetentionFloor(t.reported), "setting the retention floor of "+t.name)
}

// viewTopic returns the topic adopted in the current view, adopting a topic
// first seen in this view (agreed end 0) on the way.
func (n *Node) viewTopic(now time.Time, name string) *topic {
	t := n.topic(name)
	if t == nil || !n.installed || !n.member {
		return t
	}
	if t.view != n.view.Number {
		a, ok := n.assign[name]
		if !ok {
			a = TopicAssign{Topic: name, Owner: n.ring.owner(name)}
		}
		n.adopt(now, a)
	}
	return t
}

func (n *Node) setHistory(t *topic, h []Epoch) {
	t.hist = h
	// Recovery compares logs by their histories; one that is not on disk
	// would be forgotten at the next restart.
	n.wrote(promiseWrite, t.log.SetMeta(encodeHistory(h)), "persisting the epoch history of "+t.name)
}

// adopt aligns our log of one topic with the view's agreed log: truncate
// where it diverges (or beyond the agreed end), then fetch what is missing.
func (n *Node) adopt(now time.Time, a TopicAssign) {
	t := n.topic(a.Topic)
	if t == nil {
		return
	}
	v := n.view.Number
	t.view, t.owner, t.source, t.end = v, a.Owner, a.Source, a.End
	t.synced, t.syncing = false, false
	t.acked = map[NodeID]uint64{}
	t.pending = nil
	t.fetchAt, t.fetchFrom, t.misses = time.Time{}, 0, 0
	t.commitAt = now
	t.commit = max(t.commit, a.Committed)
	length := t.log.NextOffset()
	n.log.Info().Str("topic", a.Topic).Str("owner", n.who(a.Owner)).Uint64("view", v).Uint64("have", length).Uint64("agreed_end", a.End).
		Msgf("REPLICATE %s: %s in view %d; %s", a.Topic, replicateRole(a.Owner == n.id, n.who(a.Owner)), v, syncState(length, a.End))
	own := clipHistory(t.hist, length)
	if label(own) == v {
		// We already caught up in this view before a restart: our log is a
		// prefix-or-extension of the owner's, nothing to cut.
		t.synced = true
		n.updateCommitted(t)
		return
	}
	cut := min(divergence(own, length, a.History, a.End), a.End)
	if cut < length {
		if cut < t.reported {
			// Records we reported committed (consumers may have them) would
			// go, and new ones would take their offsets. That cannot happen
			// if the protocol is right; if it does, stop rather than serve
			// two different records at one offset.
			n.failStop(fmt.Errorf("view %d's agreed log of %s ends at %d, below the %d records this broker reported committed: refusing to truncate",
				v, a.Topic, cut, t.reported))
			return
		}
		if !n.wrote(promiseWrite, t.log.TruncateTo(cut), fmt.Sprintf("truncating %s to %d", a.Topic, cut)) {
			return
		}
		t.dedupe = nil
		length = t.log.NextOffset()
	}
	n.setHistory(t, clipHistory(a.History, a.End))
	if length == a.End {
		n.markSynced(t)
	}
	n.updateCommitted(t)
}

// markSynced records that our log now equals the view's agreed log: the
// (possibly empty) epoch entry (view, end) becomes its label.
func (n *Node) markSynced(t *topic) {
	t.syncing = true
	n.setHistory(t, pushEpoch(clipHistory(t.hist, t.end), n.view.Number, t.end))
	// Confirm the install now rather than at the next heartbeat — once the
	// records and the label are durable (Advance): if they fail, the topic
	// is rolled back and not synced after all.
	n.confirm = true
}

// confirmSynced tells the leader (or, as leader, checks) that every topic
// now holds the view's agreed log.
func (n *Node) confirmSynced() {
	if !n.installed || !n.member || n.active == n.view.Number || !n.allSynced() {
		return
	}
	if n.role == RoleLeader {
		n.checkActivation(n.now)
	} else {
		n.send(n.view.Leader, n.heartbeat(false))
	}
}

// updateCommitted raises the committed end we report to what we hold of the
// commit index — counting only applied writes: a staged record may still
// fail to be written.
func (n *Node) updateCommitted(t *topic) {
	c := min(t.commit, t.log.Durable())
	if c > t.reported {
		t.reported = c
		n.changed[t.name] = true
		n.setFloor(t)
	}
}

// loadDedupe rebuilds the producer table from the log: each producer's
// highest Seq and where it is.
func (n *Node) loadDedupe(t *topic) bool {
	if t.dedupe != nil {
		return true
	}
	d := map[string]seqOffset{}
	for off, end := t.log.StartOffset(), t.log.NextOffset(); off < end; {
		recs, err := t.log.Read(off, 1024, 4<<20)
		if err != nil || len(recs) == 0 {
			if err != nil {
				n.log.Error().Err(err).Str("topic", t.name).Msg("cannot read log to rebuild producer table")
				return false
			}
			break
		}
		for _, r := range recs {
			noteSeq(d, r)
		}
		off = recs[len(recs)-1].Offset + 1
	}
	t.dedupe = d
	return true
}

// producerState is what propose knows of one producer while it goes
// through a batch: the highest Seq present or accepted so far (ok: any),
// and the producer table's entry (seen: there is one).
type producerState struct {
	hi     uint64
	ok     bool
	stored seqOffset
	seen   bool
}

// producerStates looks each producer of a batch up in the producer table
// once. A batch is nearly always one producer's, so that one is kept
// aside and a map is made only for a second (propose looked up two maps and
// wrote one for every record: a fifth of a lone broker's CPU under load).
type producerStates struct {
	curID  string
	cur    *producerState
	others map[string]*producerState
}

func (ps *producerStates) of(table map[string]seqOffset, id string) *producerState {
	if ps.cur != nil && id == ps.curID {
		return ps.cur
	}
	if ps.cur != nil {
		if ps.others == nil {
			ps.others = map[string]*producerState{}
		}
		ps.others[ps.curID] = ps.cur
	}
	p, ok := ps.others[id]
	if !ok {
		p = &producerState{}
		p.stored, p.seen = table[id]
		if p.seen {
			p.hi, p.ok = p.stored.seq, true
		}
	}
	ps.curID, ps.cur = id, p
	return p
}

func noteSeq(d map[string]seqOffset, r record.Record) {
	if s, ok := d[r.ProducerID]; !ok || r.Seq >= s.seq {
		d[r.ProducerID] = seqOffset{seq: r.Seq, off: r.Offset}
	}
}

// Propose appends a producer's batch on the topic's owner and replicates it.
// The token comes back in Ready().Acks once the batch is committed.
//
// The node takes recs as they are: it sets their offsets and hands them on
// in the next Ready (its Writes and REPLICATE messages) without copying, so
// the caller must leave them alone until that Ready is applied and sent. It
// may propose the same slice again afterwards (a batch refused during a
// view change).
func (n *Node) Propose(now time.Time, topicName string, recs []record.Record, token uint64) error {
	n.now = now
	firsts := firstSeqs(recs)
	if err := n.propose(now, topicName, recs, token, firsts); err != nil {
		n.noteGap(now, topicName, firsts)
		return err
	}
	for _, f := range firsts {
		delete(n.gaps, gapKey{topicName, f.producer}) // taken in order: no gap left
	}
	return nil
}

func (n *Node) propose(now time.Time, topicName string, recs []record.Record, token uint64, firsts []producerSeq) error {
	if !n.installed || !n.member {
		if l, ok := n.joinLeader(); ok {
			return &NotOwnerError{Owner: l} // the leader we join knows the owner
		}
		return ErrFrozen
	}
	if n.frozen() {
		return ErrFrozen
	}
	if o := n.ownerOf(topicName); o != n.id {
		m, _ := n.view.Member(o)
		return &NotOwnerError{Owner: m}
	}
	if n.active != n.view.Number {
		return ErrFrozen
	}
	if !n.quorumOK(now) {
		return ErrNoQuorum
	}
	t := n.viewTopic(now, topicName)
	if t == nil || !t.inSync() || !n.loadDedupe(t) {
		return ErrFrozen
	}
	ack := Ack{Token: token, Topic: topicName, Count: uint32(len(recs))}
	// fresh is recs itself until a duplicate turns up (nearly always: a
	// batch is resent whole or not at all), then a copy of the records
	// that are not. Copying every batch (64 bytes a record, with a write
	// barrier per pointer while the collector runs) was a tenth of an
	// owner's propose.
	fresh, copied := recs, false
	var waitEnd uint64
	var ps producerStates
	for i, r := range recs {
		p := ps.of(t.dedupe, r.ProducerID)
		hi, ok, s, seen := p.hi, p.ok, p.stored, p.seen
		if !ok && r.Seq > 1 {
			// A producer the table does not know. It starts at Seq 1
			// (clients number from 1, a new id per process), so if the log
			// never lost its front, earlier records were refused or lost
			// while this batch was in flight. Once retention has trimmed
			// the log the table may have forgotten the producer; then only
			// the refusals we remember tell.
			g, gap := n.gaps[gapKey{topicName, r.ProducerID}]
			if t.log.StartOffset() == 0 || (gap && r.Seq > g.seq && now.Sub(g.at) < n.cfg.BrokerTimeout) {
				return ErrOutOfOrder
			}
		}
		if ok && r.Seq > hi+1 && r.Seq != 0 {
			// A gap: the records between were refused (or lost) while this
			// batch was in flight. Storing it would turn their resend into
			// "duplicates"; refuse it so they come first.
			return ErrOutOfOrder
		}
		if ok && r.Seq <= hi {
			ack.Duplicates++
			if seen && r.Seq <= s.seq {
				// Already in the log, at or before the producer's latest record.
				waitEnd = max(waitEnd, s.off+1)
				ack.BaseOffset = s.off
			}
			if !copied {
				fresh, copied = append(make([]record.Record, 0, len(recs)), recs[:i]...), true
			}
			continue
		}
		p.hi, p.ok = r.Seq, true
		if copied {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) > 0 {
		first, err := t.log.Append(fresh)
		if !n.wrote(dataWrite, err, "appending to "+topicName) {
			return err
		}
		for i, r := range fresh {
			// A producer's fresh records have rising Seqs: the last of
			// each run of them is the one the table keeps.
			if i+1 == len(fresh) || fresh[i+1].ProducerID != r.ProducerID {
				noteSeq(t.dedupe, r)
			}
		}
		ack.BaseOffset = first
		waitEnd = t.log.NextOffset()
		n.replicate(t, fresh)
	}
	t.pending = append(t.pending, pendingAck{ack: ack, waitEnd: waitEnd, at: now, firsts: firsts})
	n.recomputeCommit(now, t)
	return nil
}

// replicate multicasts records in batches bounded by MaxBatch/MaxBatchBytes.
func (n *Node) replicate(t *topic, recs []record.Record) {
	for len(recs) > 0 {
		k, size := 0, 0
		for k < len(recs) && k < n.cfg.MaxBatch && (k == 0 || size+recs[k].Size() <= n.cfg.MaxBatchBytes) {
			size += recs[k].Size()
			k++
		}
		n.log.Debug().Str("topic", t.name).Uint64("first", recs[0].Offset).Int("count", k).Msg("REPLICATE")
		n.multicast(&Replicate{From: n.id, View: n.view.Number, Topic: t.name, First: recs[0].Offset, Commit: t.commit, Records: recs[:k]})
		t.annOwed = false
		recs = recs[k:]
	}
}

// announce tells followers our tail and commit, so a lost last batch or a
// missed commit advance is noticed.
func (n *Node) announce(now time.Time, t *topic) {
	t.annAt, t.annOwed = now, false
	n.multicast(&Replicate{From: n.id, View: n.view.Number, Topic: t.name, First: t.log.NextOffset(), Commit: t.commit})
}

// dropCoveredAnnouncements removes from msgs each commit announcement (a
// REPLICATE to the view without records) that a later REPLICATE to the view
// of the same topic makes redundant: the later one carries a commit at
// least as high, and its First (the tail, or its first record) tells a
// follower what the announcement's did. Under load the owner's commit rises
// at almost every REPLICATE_ACK, and the loop handles acknowledgements and
// new batches together: without this, one announcement per commit rise went
// to every follower beside the batches that follow it — a message, a
// system call and a wake-up on three brokers each. It keeps msgs' order and
// backing array.
func dropCoveredAnnouncements(msgs []Envelope) []Envelope {
	type later struct {
		topic  string
		view   uint64
		commit uint64
	}
	var seen []later // topics with a REPLICATE to the view further on; few per Ready
	dropped := false
	for i := len(msgs) - 1; i >= 0; i-- {
		r, ok := msgs[i].Msg.(*Replicate)
		if !ok || msgs[i].To != 0 {
			continue
		}
		j := slices.IndexFunc(seen, func(l later) bool { return l.topic == r.Topic && l.view == r.View })
		if len(r.Records) == 0 && j >= 0 && seen[j].commit >= r.Commit {
			dropped = true
			msgs[i].Msg = nil // marked; compacted below
			continue
		}
		if j < 0 {
			seen = append(seen, later{r.Topic, r.View, r.Commit})
		} else {
			seen[j].commit = max(seen[j].commit, r.Commit)
		}
	}
	if !dropped {
		return msgs
	}
	return slices.DeleteFunc(msgs, func(e Envelope) bool { return e.Msg == nil })
}

// recomputeCommit advances the owner's commit index to the end stored by a
// majority of the view, and acknowledges what it covers.
func (n *Node) recomputeCommit(now time.Time, t *topic) {
	if t.owner != n.id || !t.synced || !n.canCommit() {
		return
	}
	var buf [8]uint64 // no allocation per commit for views of up to 8
	ends := buf[:0]
	for _, id := range n.view.IDs() {
		if id == n.id {
			ends = append(ends, t.log.Durable()) // our own staged records count once written (Advance)
		} else {
			ends = append(ends, t.acked[id])
		}
	}
	slices.Sort(ends)
	c := ends[len(ends)-majority(len(ends))]
	if c > t.commit {
		// The followers learn the new commit from the topic's next
		// REPLICATE, or from an announcement at the next tick. Not at
		// once: on a topic written one record at a time the next
		// REPLICATE follows within a round trip, and an announcement per
		// commit was as many messages as the records themselves — each
		// a write, a read and a wake-up on every broker, and the owner
		// wrote it to both followers before the producer's
		// acknowledgement. Nothing waits for a follower's commit: it
		// serves no reads, and recovery takes the longest log.
		t.commit = c
		t.annOwed = true
		n.updateCommitted(t)
	}
	k := 0
	for _, p := range t.pending {
		if p.waitEnd <= t.reported {
			n.out.Acks = append(n.out.Acks, p.ack)
		} else {
			t.pending[k] = p
			k++
		}
	}
	t.pending = t.pending[:k]
}

// failPending fails every unacknowledged Propose (the client retries with the
// same ProducerID/Seq; de-duplication makes that safe).
func (n *Node) failPending(err error) {
	names := make([]string, 0, len(n.topics))
	for name := range n.topics {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := n.topics[name]
		for _, p := range t.pending {
			p.ack.Err = err
			n.out.Acks = append(n.out.Acks, p.ack)
			n.noteGap(n.now, name, p.firsts)
		}
		t.pending = nil
	}
}

// onRecords handles REPLICATE and FETCH_RESPONSE (start: where the
// responder's log starts; 0 for REPLICATE).
func (n *Node) onRecords(now time.Time, from NodeID, view uint64, name string, first, start, commit uint64, recs []record.Record, fetched bool) {
	if view != n.view.Number || !n.installed || !n.member || n.frozen() {
		return
	}
	t := n.viewTopic(now, name)
	if t == nil {
		return
	}
	if fetched && n.repairWith(t, from, recs) {
		return
	}
	fromSource := fetched && (from == t.source || from == t.fetchFrom) && !t.inSync()
	if (from != t.owner || t.owner == n.id) && !fromSource {
		return
	}
	if fetched {
		t.fetchAt = time.Time{}
		if from == t.source {
			t.misses = 0
		}
	}
	if from == t.owner {
		if commit > t.commit || len(recs) > 0 {
			t.commitAt = now
		}
		t.commit = max(t.commit, commit) // valid knowledge even across a gap
	}
	length := t.log.NextOffset()
	if fetched && start > length {
		// What we miss is gone from the node we catch up from. It only
		// trims committed records and only jumps itself past records gone
		// from its own source, so nobody holds them any more: skip them.
		// Before syncing we never go past the agreed end.
		to := start
		if !t.inSync() {
			to = min(to, t.end)
		}
		if to > length && !n.skipTo(t, to) {
			return
		}
		length = t.log.NextOffset()
	}
	if first > length {
		n.fetch(now, t)
		return
	}
	for len(recs) > 0 && recs[0].Offset < length {
		recs = recs[1:]
	}
	if from != t.owner && len(recs) > 0 {
		// From the source: only the agreed part.
		k := 0
		for k < len(recs) && recs[k].Offset < t.end {
			k++
		}
		recs = recs[:k]
	}
	appended := len(recs)
	if fetched && t.inSync() && appended > 0 {
		n.log.Info().Str("topic", name).Str("source", n.who(from)).Uint64("from", recs[0].Offset).Int("records", appended).
			Msgf("REPLICATE %s: gap repaired: fetched %d missing records from offset %d", name, appended, recs[0].Offset)
	}
	for len(recs) > 0 {
		var part []record.Record
		if !t.inSync() {
			if t.log.NextOffset() >= t.end {
				break // cannot happen: synced would be set
			}
			k := 0
			for k < len(recs) && recs[k].Offset < t.end {
				k++
			}
			part, recs = recs[:k], recs[k:]
		} else {
			part, recs = recs, nil
		}
		if !n.wrote(dataWrite, t.log.AppendAt(part), "appending replicated records to "+name) {
			return
		}
		if t.dedupe != nil {
			for _, r := range part {
				noteSeq(t.dedupe, r)
			}
		}
		if !t.inSync() && t.log.NextOffset() == t.end {
			n.log.Info().Str("topic", name).Uint64("view", n.view.Number).Uint64("end", t.end).
				Msgf("REPLICATE %s: caught up with view %d's agreed log at offset %d", name, n.view.Number, t.end)
			n.markSynced(t)
		}
	}
	n.updateCommitted(t)
	if t.owner == n.id {
		n.recomputeCommit(now, t)
	} else if t.inSync() {
		n.send(t.owner, &ReplicateAck{From: n.id, View: n.view.Number, Topic: name, End: t.log.NextOffset()})
	}
	if fetched && appended == 0 && !t.inSync() {
		// The member we asked holds nothing past our log (another member
		// catching up): ask another one at the next interval, not again
		// at once — two such members would feed each other empty answers.
		t.misses++
		t.fetchAt = now
		return
	}
	if !t.inSync() || (fetched && appended > 0) || commit > t.log.NextOffset() {
		n.fetch(now, t) // more to come
	}
}

// skipTo resets our log to start empty at off (> NextOffset). The epoch
// history stays: it describes the agreed log, of which we now hold the part
// from off on (clipHistory labels it when used). The producer table keeps
// what it learned from the records we drop — still true of the topic, and
// the owner's dedupe must not forget producers because of a skip.
func (n *Node) skipTo(t *topic, off uint64) bool {
	n.log.Warn().Str("topic", t.name).Uint64("from", t.log.NextOffset()).Uint64("to", off).Bool("synced", t.inSync()).
		Msg("log behind the retention of its source: skipping the records removed there")
	if !n.wrote(promiseWrite, t.log.Reset(off), fmt.Sprintf("resetting %s to start at %d", t.name, off)) {
		return false
	}
	if !t.inSync() && off == t.end {
		n.markSynced(t)
	}
	return true
}

// fetch asks for what we miss: the agreed part from the source, the rest from
// the owner. One request in flight per topic, retried after FollowerHBInterval.
func (n *Node) fetch(now time.Time, t *topic) {
	if !t.fetchAt.IsZero() && now.Sub(t.fetchAt) < n.cfg.FollowerHBInterval {
		return
	}
	to := t.owner
	if !t.inSync() && t.source != 0 && t.source != n.id {
		to = t.source
		if !t.fetchAt.IsZero() {
			t.misses++ // the last request went unanswered for a whole interval
		}
		if n.isUnreachable(t.source) || t.misses >= 2 {
			// The source died (or is cut off) after the view was made:
			// every member that adopted this view holds a prefix of the
			// agreed log (adopt cut what diverged), so catch up from one
			// that can answer — waiting for the source would hold the
			// view's activation until a new view change.
			to = n.catchUpPeer(t)
		}
	}
	if to == n.id || to == 0 {
		return
	}
	t.fetchFrom = to
	t.fetchAt = now
	n.log.Debug().Str("topic", t.name).Str("to", n.who(to)).Uint64("offset", t.log.NextOffset()).Msg("FETCH")
	n.send(to, &Fetch{From: n.id, View: n.view.Number, Topic: t.name, Offset: t.log.NextOffset(), Max: uint32(n.cfg.MaxBatch)})
}

// catchUpPeer picks whom to catch up from when the source does not answer:
// the owner, else the other members in turn (misses rotates the choice).
func (n *Node) catchUpPeer(t *topic) NodeID {
	var peers []NodeID
	if t.owner != n.id && t.owner != t.source && !n.isUnreachable(t.owner) {
		peers = append(peers, t.owner)
	}
	for _, id := range n.view.IDs() {
		if id != n.id && id != t.source && id != t.owner && !n.isUnreachable(id) {
			peers = append(peers, id)
		}
	}
	if len(peers) == 0 {
		return t.source
	}
	return peers[t.misses%len(peers)]
}

func (n *Node) onFetch(now time.Time, m *Fetch) {
	if m.View != n.view.Number || !n.installed || !n.member || n.frozen() {
		return
	}
	t := n.viewTopic(now, m.Topic)
	if t == nil {
		return
	}
	limit := t.log.NextOffset()
	if t.owner != n.id && m.From != t.owner && !t.inSync() {
		// A source that is still catching up serves only the agreed log.
		// Otherwise our log is a prefix of the owner's (adopt cut what
		// diverged; replication only extends it), so any of it may serve a
		// member repairing a damaged range — the owner included.
		limit = min(limit, t.end)
	}
	// Below our start we serve from the start: the requester skips there.
	start := t.log.StartOffset()
	from := max(m.Offset, start)
	resp := &FetchResponse{From: n.id, View: n.view.Number, Topic: m.Topic, First: from, Start: start, Commit: t.commit}
	if t.owner != n.id {
		resp.Commit = 0
	}
	switch {
	case from < limit:
		maxRecs := min(int(m.Max), n.cfg.MaxBatch, int(limit-from))
		recs, err := t.log.Read(from, max(maxRecs, 1), n.cfg.MaxBatchBytes)
		if err != nil {
			n.log.Error().Err(err).Str("topic", m.Topic).Uint64("offset", from).Msg("FETCH read failed")
			return
		}
		if len(recs) > 0 && recs[0].Offset == from {
			resp.Records = recs
		}
	case m.Offset >= limit:
		resp.First = limit
	}
	n.send(m.From, resp)
}

func (n *Node) onReplicateAck(now time.Time, m *ReplicateAck) {
	if m.View != n.view.Number || !n.installed || n.frozen() {
		return
	}
	t := n.topics[m.Topic]
	if t == nil || t.owner != n.id || t.view != n.view.Number {
		return
	}
	if m.End > t.acked[m.From] {
		t.acked[m.From] = min(m.End, t.log.NextOffset())
		n.recomputeCommit(now, t)
	}
}

// tickTopics drives catch-up, tail announcements and ack timeouts.
func (n *Node) tickTopics(now time.Time) {
	for _, name := range n.topicNames() {
		t := n.viewTopic(now, name)
		if t == nil {
			continue
		}
		n.repair(now, t)
		if t.owner != n.id {
			switch {
			case !t.inSync():
				n.fetch(now, t)
			case t.commit < t.log.NextOffset() && now.Sub(t.commitAt) >= n.cfg.FollowerHBInterval:
				// We hold records not known committed and no commit
				// news came for a while: the owner's announcement may
				// have been lost, or come while we were frozen, and it
				// announces only while some member lags. Ask: the
				// answer carries the owner's commit.
				t.commitAt = now
				n.fetch(now, t)
			}
			continue
		}
		if !t.inSync() {
			n.fetch(now, t)
			continue
		}
		if t.annOwed && n.canCommit() {
			n.announce(now, t)
		}
		lagging := t.commit < t.log.NextOffset()
		for _, id := range n.view.IDs() {
			if id != n.id && t.acked[id] < t.log.NextOffset() {
				lagging = true
			}
		}
		if lagging && now.Sub(t.annAt) >= n.cfg.FollowerHBInterval && n.canCommit() {
			n.announce(now, t)
		}
		k := 0
		for _, p := range t.pending {
			if now.Sub(p.at) >= n.cfg.FailureTimeout {
				p.ack.Err = ErrNoQuorum
				n.out.Acks = append(n.out.Acks, p.ack)
				n.noteGap(now, t.name, p.firsts)
			} else {
				t.pending[k] = p
				k++
			}
		}
		t.pending = t.pending[:k]
	}
}
