package cluster

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/record"
)

var (
	simSeeds = flag.Int("sim.seeds", 200, "number of simulation seeds TestSim runs")
	simSeed  = flag.Uint64("sim.seed", 0, "replay one simulation seed (0: run -sim.seeds seeds)")
	simLog   = flag.Bool("sim.log", false, "write the nodes' info logs and the sim trace to stderr")
	simDebug = flag.Bool("sim.debug", false, "with -sim.log: debug level (per packet)")
	simFault = flag.Float64("sim.faults", 0.02, "probability per 10 ms step of injecting a fault")
)

// TestSim runs the deterministic simulation over many seeds: 3- and 5-node
// clusters, producers that pipeline and resend as pkg/client does
// (simproducer_test.go), random crash-restarts, leader kills, partitions,
// message loss, duplication and reordering, and in a third of the seeds a
// small retention limit (so lagging members fall behind what the others
// still hold); then heals everything and checks safety and liveness (see
// finalCheck).
func TestSim(t *testing.T) {
	seeds := []uint64{}
	if *simSeed != 0 {
		seeds = append(seeds, *simSeed)
	} else {
		for i := 1; i <= *simSeeds; i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	if *simDebug {
		simLevel = zerolog.DebugLevel
	}
	failed := 0
	var total simStats
	for _, seed := range seeds {
		st, err := runSim(seed, *simLog)
		total.add(st)
		if err != nil {
			failed++
			t.Errorf("seed %d: %v\nreplay: go test ./pkg/cluster -run 'TestSim$' -sim.seed=%d -sim.log -v", seed, err, seed)
			if failed >= 5 {
				t.Fatalf("stopping after %d failing seeds", failed)
			}
		}
	}
	t.Logf("%d seeds: %+v", len(seeds), total)
}

// simStats shows that the runs exercise what the checker checks.
type simStats struct {
	AckedRecords, DuplicateAcks, FailedAcks, Views, Crashes, Partitions, LossBursts, Pauses int
	// Retention: seeds with a retention limit; Skips: logs reset forward past
	// records their source no longer held; TrimmedAcked: acknowledged records
	// gone by retention (excused from presence); RetriedAfterTrim: records
	// appended twice because the first copy had left the retention window
	// before the owner rebuilt its producer table.
	Retention, Skips, TrimmedAcked, RetriedAfterTrim int
	TruncatedPastStart                               int // recovery cut a log below its retained start
	// SilentOwner: seeds that ran the silent-owner phase; SilentFailoverMax:
	// the longest time from the owner's silence until another member served
	// its topic; Moves: topics a view moved away from an owner still member.
	SilentOwner       int
	SilentFailoverMax time.Duration
	Moves             int
	// The client model: batches sent while others were in flight, records
	// sent again, reconnections, redirects followed, batches refused with
	// ErrOutOfOrder, acks the client never saw (connection dropped) and
	// acks that came out of order.
	Pipelined, Resent, Reconnects, Redirects, OutOfOrder, StaleAcks, AcksOutOfOrder int
	ProducerRestarts                                                                int
	WholeRestarts, Wipes, Damaged                                                   int
	// DiskFull: record writes refused by a node's full disk (a clean
	// failure: the proposals are refused, the replicas fetched again).
	DiskFull int
}

func (a *simStats) add(b simStats) {
	a.AckedRecords += b.AckedRecords
	a.DuplicateAcks += b.DuplicateAcks
	a.FailedAcks += b.FailedAcks
	a.Views += b.Views
	a.Crashes += b.Crashes
	a.Partitions += b.Partitions
	a.LossBursts += b.LossBursts
	a.Pauses += b.Pauses
	a.Retention += b.Retention
	a.Skips += b.Skips
	a.TrimmedAcked += b.TrimmedAcked
	a.RetriedAfterTrim += b.RetriedAfterTrim
	a.TruncatedPastStart += b.TruncatedPastStart
	a.SilentOwner += b.SilentOwner
	a.SilentFailoverMax = max(a.SilentFailoverMax, b.SilentFailoverMax)
	a.Moves += b.Moves
	a.Pipelined += b.Pipelined
	a.Resent += b.Resent
	a.Reconnects += b.Reconnects
	a.Redirects += b.Redirects
	a.OutOfOrder += b.OutOfOrder
	a.StaleAcks += b.StaleAcks
	a.AcksOutOfOrder += b.AcksOutOfOrder
	a.ProducerRestarts += b.ProducerRestarts
	a.WholeRestarts += b.WholeRestarts
	a.Wipes += b.Wipes
	a.Damaged += b.Damaged
	a.DiskFull += b.DiskFull
}

type recKey struct {
	pid string
	seq uint64
}

func cmpRecKey(a, b recKey) int {
	if c := strings.Compare(a.pid, b.pid); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

type simRun struct {
	s         *simnet
	producers []*simProducer
	tokens    map[uint64]simToken
	nextToken uint64
	nextConn  uint64
	committed map[string][]recKey          // the one committed sequence per topic, by offset; recKey{}: not seen (trimmed)
	checked   map[[2]any]uint64            // (node, incarnation, topic) → prefix checked
	acked     map[string]map[recKey]bool   // records acknowledged to producers
	ackedAt   map[string]map[recKey]uint64 // offset of an acked record on the owner when acknowledged (absent: already trimmed)
	limit     uint64                       // retention (0: unlimited)
	ackedBy   map[string]NodeID            // "view/topic" → node that acknowledged writes
	leaderOf  map[uint64]NodeID            // view number → leader
	ownerOf   map[string]NodeID            // topic → owner in the latest view a leader installed
	resumeAt  map[NodeID]time.Time         // paused nodes
	errs      []string
	stats     simStats
}

func (r *simRun) failf(format string, args ...any) {
	r.s.logf("VIOLATION "+format, args...)
	if len(r.errs) < 10 {
		r.errs = append(r.errs, fmt.Sprintf("%8s ", r.s.now.Sub(simEpoch).Truncate(time.Millisecond))+fmt.Sprintf(format, args...))
	}
}

func runSim(seed uint64, verbose bool) (simStats, error) {
	var logw io.Writer
	if verbose {
		logw = os.Stderr
	}
	n := 3
	if seed%2 == 0 {
		n = 5
	}
	s := newSimnet(seed, n, logw)
	r := &simRun{s: s, tokens: map[uint64]simToken{}, committed: map[string][]recKey{}, checked: map[[2]any]uint64{},
		acked: map[string]map[recKey]bool{}, ackedAt: map[string]map[recKey]uint64{}, ackedBy: map[string]NodeID{}, leaderOf: map[uint64]NodeID{}, ownerOf: map[string]NodeID{}, resumeAt: map[NodeID]time.Time{}}
	if seed%3 == 0 {
		// Small enough that a member held back by a partition or loss falls
		// behind what the owner still holds (derived from the seed, not
		// drawn from rng, so the other seeds' schedules do not change).
		r.limit = 50 + seed*2654435761%451
		r.stats.Retention = 1
		for _, id := range s.ids {
			s.nodes[id].store.maxRecords = r.limit
		}
	}
	s.onReady = r.observe
	for _, id := range s.ids {
		id := id
		s.nodes[id].store.onTrim = func(topic string, off uint64, rec record.Record) {
			r.commitAt(id, topic, off, recKey{rec.ProducerID, rec.Seq})
		}
	}
	r.newProducers(simTopicList(seed))

	// Form the cluster: node 1 bootstraps, the others join it.
	s.nodes[1].node.Bootstrap(s.now)
	s.flush(s.nodes[1])
	for _, id := range s.ids[1:] {
		s.join(id, 1)
		s.flush(s.nodes[id])
	}
	// Faults start once every node is a member: a fresh node cut off from
	// the cluster would found a cluster of its own (as a broker started
	// alone does), and two clusters that both took records are never merged
	// (identity.go); that meeting is tested by the scenario tests instead.
	for i := 0; i < 500 && !r.converged(); i++ {
		s.step(10 * time.Millisecond)
	}
	s.dup = 0.03

	// Fault phase.
	const dt = 10 * time.Millisecond
	faultStart := s.now
	faultEnd := s.now.Add(5 * time.Second)
	// In a fifth of the seeds one node's disk is full for a while: its
	// record writes fail cleanly (derived from the seed, not drawn from
	// rng, so the other seeds' schedules do not change).
	var fullNode *simNode
	if seed%5 == 4 {
		fullNode = s.nodes[s.ids[int(seed/5)%len(s.ids)]]
	}
	restartAt := map[NodeID]time.Time{}
	var healAt, calmAt time.Time
	for s.now.Before(faultEnd) {
		r.produce(true)
		if s.now.UnixMilli()%100 == 0 {
			s.discover()
		}
		for id, at := range restartAt {
			if !s.now.Before(at) {
				s.restart(id)
				delete(restartAt, id)
			}
		}
		for id, at := range r.resumeAt {
			if !s.now.Before(at) {
				s.resume(id)
				delete(r.resumeAt, id)
			}
		}
		if !healAt.IsZero() && !s.now.Before(healAt) {
			s.heal()
			healAt = time.Time{}
		}
		if !calmAt.IsZero() && !s.now.Before(calmAt) {
			s.drop, calmAt = 0, time.Time{}
		}
		if s.rng.Float64() < *simFault {
			r.fault(restartAt, &healAt, &calmAt)
		}
		if fullNode != nil {
			in := s.now.Sub(faultStart)
			switch {
			case in == time.Second:
				s.logf("DISK FULL node %d", fullNode.id)
				fullNode.store.full = errors.New("no space left on device")
			case in == 2*time.Second:
				s.logf("DISK SPACE BACK node %d", fullNode.id)
				fullNode.store.full = nil
			}
		}
		s.step(dt)
	}
	if fullNode != nil {
		r.stats.DiskFull = fullNode.store.refused
	}

	// Whole-life faults, each in a quarter of the seeds: every node killed
	// and restarted in a random order (a power cut), or one node's disk
	// replaced while the others hold a majority's copy.
	switch seed % 4 {
	case 1:
		r.wholeRestart()
	case 3:
		r.wipeOne()
	}
	if seed%5 == 2 {
		r.damageOne()
	}

	// Faults stop: heal, restart everyone, no loss. A leader must emerge and
	// every producer's unacknowledged records plus two more must commit in
	// bounded time.
	s.heal()
	s.drop, s.dup = 0, 0
	for _, id := range s.ids {
		s.resume(id)
		s.restart(id)
	}
	deadline := s.now.Add(15 * time.Second)
	r.setGoal(2)
	for s.now.Before(deadline) {
		r.produce(false)
		if s.now.UnixMilli()%100 == 0 {
			s.discover()
		}
		s.step(dt)
		if r.allDone() && r.converged() {
			break
		}
	}
	if !r.allDone() {
		r.failf("liveness: producers did not get their records committed within 15s after faults stopped (leaders: %v)", leaderIDs(s))
	} else {
		r.silentOwner(seed)
	}
	// Let members catch up and commit indexes propagate (bounded), then check.
	for i := 0; i < 1000 && !r.settled(); i++ {
		s.step(dt)
	}
	r.finalCheck()
	for _, id := range s.ids {
		for _, l := range s.nodes[id].store.topics {
			r.stats.Skips += l.resets
			r.stats.TruncatedPastStart += l.emptied
		}
	}
	if len(r.errs) > 0 && verbose {
		for _, sn := range s.up() {
			st := sn.node.Status()
			fmt.Fprintf(os.Stderr, "node %d role %v frozen %v view %d active %d promised %d\n", sn.id, st.Role, st.Frozen, st.View.Number, sn.node.active, sn.node.promised)
			for _, t := range st.Topics {
				tp := sn.node.topics[t.Topic]
				fmt.Fprintf(os.Stderr, "   %+v end=%d src=%d commit=%d acked=%v pending=%d\n", t, tp.end, tp.source, tp.commit, tp.acked, len(tp.pending))
			}
		}
		for _, p := range r.producers {
			fmt.Fprintf(os.Stderr, "producer %+v\n", *p)
		}
	}
	if len(r.errs) > 0 {
		msg := strings.Join(r.errs, "\n  ")
		return r.stats, errors.New("\n  " + msg)
	}
	r.stats.Views = len(r.leaderOf)
	return r.stats, nil
}

// silentOwner is the liveness check for a silent owner: in a converged
// cluster, a topic owner that is not the leader is paused (SIGSTOP) or cut
// off alone; another member must serve its topic within the failure timeout
// plus a short view change — not after the broker timeout. Then it comes
// back and every producer must commit again.
func (r *simRun) silentOwner(seed uint64) {
	s := r.s
	const dt = 10 * time.Millisecond
	// Settled, not only converged: a member that is still fetching the
	// logs (one just back with an empty disk) is not yet a copy the others
	// can fail over with, and the bound below is for a cluster of copies.
	for i := 0; i < 300 && !r.settled(); i++ {
		s.step(dt)
	}
	ls := s.leaders()
	if !r.settled() || len(ls) != 1 {
		return
	}
	leader := ls[0].node
	var topic string
	var owner NodeID
	for _, p := range r.producers {
		if o := leader.ownerOf(p.topic); o != leader.id {
			topic, owner = p.topic, o
			break
		}
	}
	if owner == 0 {
		return
	}
	r.stats.SilentOwner++
	pause := seed%4 < 2
	if pause {
		s.pause(owner)
	} else {
		var rest []NodeID
		for _, id := range s.ids {
			if id != owner {
				rest = append(rest, id)
			}
		}
		s.partition([]NodeID{owner}, rest)
	}
	serving := func() bool {
		for _, sn := range s.up() {
			nd := sn.node
			if sn.id == owner || sn.paused || nd.ownerOf(topic) != sn.id || !nd.canCommit() || !nd.quorumOK(s.now) {
				continue
			}
			if t := nd.topics[topic]; t != nil && t.synced && t.view == nd.view.Number {
				return true
			}
		}
		return false
	}
	start, bound := s.now, s.cfg.FailureTimeout+400*time.Millisecond
	for !serving() && s.now.Sub(start) <= bound {
		r.produce(true)
		s.step(dt)
	}
	took := s.now.Sub(start)
	r.stats.SilentFailoverMax = max(r.stats.SilentFailoverMax, took)
	if !serving() {
		r.failf("liveness: %s not served for %v after its owner %d went silent (bound %v)", topic, took, owner, bound)
		return
	}
	s.logf("%s served again %v after its owner %d went silent", topic, took, owner)
	// Some writes on the new owner, then the silent node comes back.
	for end := s.now.Add(200 * time.Millisecond); s.now.Before(end); {
		r.produce(true)
		s.step(dt)
	}
	s.resume(owner)
	s.heal()
	r.setGoal(1)
	for end := s.now.Add(10 * time.Second); s.now.Before(end) && !(r.allDone() && r.converged()); {
		r.produce(false)
		if s.now.UnixMilli()%100 == 0 {
			s.discover()
		}
		s.step(dt)
	}
	if !r.allDone() || !r.converged() {
		r.failf("liveness: after the silent owner %d came back, producers did not commit within 10s (leaders: %v)", owner, leaderIDs(s))
	}
}

func leaderIDs(s *simnet) []NodeID {
	var ids []NodeID
	for _, l := range s.leaders() {
		ids = append(ids, l.id)
	}
	return ids
}

// wholeRestart kills every node at once and restarts them one by one in a
// random order, a random 0-600 ms apart, producers carrying on throughout.
func (r *simRun) wholeRestart() {
	s := r.s
	s.heal()
	for _, id := range s.ids {
		s.resume(id)
		s.crash(id)
	}
	r.stats.WholeRestarts++
	order := slices.Clone(s.ids)
	s.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, id := range order {
		for end := s.now.Add(time.Duration(s.rng.IntN(600)) * time.Millisecond); s.now.Before(end); {
			r.produce(true)
			s.step(10 * time.Millisecond)
		}
		s.restart(id)
	}
}

// calmAndSettle ends every fault and runs the cluster (bounded) until every
// node holds the committed logs; it reports whether they do.
func (r *simRun) calmAndSettle() bool {
	s := r.s
	s.heal()
	s.drop = 0
	for _, id := range s.ids {
		s.resume(id)
		s.restart(id)
	}
	for i := 0; i < 1000 && !r.settled(); i++ {
		r.produce(false)
		if s.now.UnixMilli()%100 == 0 {
			s.discover()
		}
		s.step(10 * time.Millisecond)
	}
	return r.settled()
}

// wipeOne replaces one node's disk, once every node holds the committed
// logs (so the others still hold a majority's copy): it comes back empty,
// with a new id, as a broker with a new data directory does.
func (r *simRun) wipeOne() {
	s := r.s
	if !r.calmAndSettle() {
		return // the liveness phase reports it
	}
	old := s.ids[s.rng.IntN(len(s.ids))]
	nid := s.wipe(old)
	r.stats.Wipes++
	r.s.nodes[nid].store.maxRecords = r.limit
	r.s.nodes[nid].store.onTrim = func(topic string, off uint64, rec record.Record) {
		r.commitAt(nid, topic, off, recKey{rec.ProducerID, rec.Seq})
	}
}

// damageOne cuts a random range out of one node's log of one topic, as a
// bad sector does, once every node holds the committed logs: the others
// hold it intact, so it must be repaired (finalCheck reads every record).
func (r *simRun) damageOne() {
	s := r.s
	if !r.calmAndSettle() {
		return
	}
	sn := s.nodes[s.ids[s.rng.IntN(len(s.ids))]]
	for _, name := range sn.store.Topics() {
		l := sn.store.topics[name]
		// Below what the checker has read of this node (it reads records
		// as their commit is reported) and above every node's start (so
		// the others still hold the range).
		c := r.checked[[2]any{sn.id, fmt.Sprint(sn.inc, "/", name)}]
		lo := l.start
		for _, o := range s.up() {
			if ol := o.store.topics[name]; ol != nil {
				lo = max(lo, ol.start)
			}
		}
		if c < lo+10 {
			continue
		}
		from := lo + uint64(s.rng.IntN(int(c-lo-5)))
		to := from + 1 + uint64(s.rng.IntN(5))
		s.logf("DAMAGE node %d %s [%d, %d)", sn.id, name, from, to)
		l.damage(from, to)
		r.stats.Damaged++
		return
	}
}

// fault injects one random fault, keeping a majority of nodes running.
func (r *simRun) fault(restartAt map[NodeID]time.Time, healAt, calmAt *time.Time) {
	s := r.s
	running := slices.DeleteFunc(s.up(), func(sn *simNode) bool { return sn.paused })
	down := len(s.ids) - len(running)
	canCrash := down < (len(s.ids)-1)/2
	pause := time.Duration(300+s.rng.IntN(1200)) * time.Millisecond
	switch k := s.rng.IntN(10); {
	case k < 3 && canCrash:
		up := s.up()
		id := up[s.rng.IntN(len(up))].id
		s.crash(id)
		r.stats.Crashes++
		restartAt[id] = s.now.Add(pause)
	case k < 5 && canCrash:
		if ls := s.leaders(); len(ls) > 0 {
			id := ls[s.rng.IntN(len(ls))].id
			s.crash(id)
			r.stats.Crashes++
			restartAt[id] = s.now.Add(pause)
		}
	case k < 7:
		ids := slices.Clone(s.ids)
		s.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		k := 1 + s.rng.IntN(len(ids)/2)
		s.partition(ids[:k], ids[k:])
		r.stats.Partitions++
		*healAt = s.now.Add(pause)
	case k < 9:
		s.drop = 0.05 + 0.25*s.rng.Float64()
		*calmAt = s.now.Add(pause)
		s.logf("LOSS %.2f", s.drop)
		r.stats.LossBursts++
	case canCrash:
		// SIGSTOP: silent, yet connections succeed (no Unreachable).
		id := running[s.rng.IntN(len(running))].id
		s.pause(id)
		r.stats.Pauses++
		r.resumeAt[id] = s.now.Add(pause)
	}
}

// converged: one leader, all nodes members of its active view.
func (r *simRun) converged() bool {
	ls := r.s.leaders()
	if len(ls) != 1 || !ls[0].node.canCommit() || len(ls[0].node.view.Members) != len(r.s.ids) {
		return false
	}
	for _, sn := range r.s.up() {
		if sn.node.view.Number != ls[0].node.view.Number || !sn.node.member {
			return false
		}
	}
	return true
}

// settled: every live node holds every topic's agreed log and the same
// committed end.
func (r *simRun) settled() bool {
	if !r.converged() {
		return false
	}
	ends := map[string]uint64{}
	for _, sn := range r.s.up() {
		for _, ts := range sn.node.Status().Topics {
			if !ts.Synced || len(sn.store.topics[ts.Topic].Holes()) > 0 {
				return false
			}
			if e, ok := ends[ts.Topic]; ok && e != ts.Committed {
				return false
			}
			ends[ts.Topic] = ts.Committed
		}
	}
	return true
}

// observe checks every Ready as it is produced.
func (r *simRun) observe(sn *simNode, rd Ready) {
	nd := sn.node
	if rd.View != nil {
		if l, ok := r.leaderOf[rd.View.Number]; ok && l != rd.View.Leader {
			r.failf("two leaders for view %d: %d and %d", rd.View.Number, l, rd.View.Leader)
		}
		r.leaderOf[rd.View.Number] = rd.View.Leader
		if rd.View.Leader == sn.id && nd.lastInstall != nil && nd.lastInstall.View == rd.View.Number {
			for _, a := range nd.lastInstall.Topics {
				if prev, ok := r.ownerOf[a.Topic]; ok && prev != a.Owner && rd.View.Has(prev) {
					r.stats.Moves++
					r.s.logf("view %d moves %s from %d (still a member) to %d", rd.View.Number, a.Topic, prev, a.Owner)
				}
				r.ownerOf[a.Topic] = a.Owner
			}
		}
	}
	for _, tc := range rd.Committed {
		r.checkPrefix(sn, tc.Topic, tc.Committed)
	}
	for _, a := range rd.Acks {
		r.onAck(sn, a)
	}
}

// checkAck checks a successful ack of recs from node sn and records them
// as acknowledged.
func (r *simRun) checkAck(sn *simNode, a Ack, recs []record.Record) {
	nd := sn.node
	r.stats.AckedRecords += int(a.Count - a.Duplicates)
	r.stats.DuplicateAcks += int(a.Duplicates)
	key := fmt.Sprintf("%d/%s", nd.view.Number, a.Topic)
	if prev, ok := r.ackedBy[key]; ok && prev != sn.id {
		r.failf("two nodes acknowledged writes to %s in view %d: %d and %d", a.Topic, nd.view.Number, prev, sn.id)
	}
	r.ackedBy[key] = sn.id
	if r.acked[a.Topic] == nil {
		r.acked[a.Topic] = map[recKey]bool{}
		r.ackedAt[a.Topic] = map[recKey]uint64{}
	}
	l := sn.store.topics[a.Topic]
	for i, rec := range recs {
		key := recKey{rec.ProducerID, rec.Seq}
		r.acked[a.Topic][key] = true
		if off, ok := findRecord(l, key); ok {
			r.ackedAt[a.Topic][key] = off
			continue
		}
		if l != nil && len(l.lost) > 0 {
			// A damaged copy, acknowledged again as a duplicate of the
			// record it held: the others hold it intact, the repair
			// brings it back, and finalCheck re-reads every record.
			continue
		}
		// Only retention may have removed it, and only from the front.
		if l == nil || l.start == 0 || (a.Duplicates == 0 && l.holds(a.BaseOffset+uint64(i))) {
			start, next := uint64(0), uint64(0)
			if l != nil {
				start, next = l.start, l.NextOffset()
			}
			r.failf("node %d acknowledged %v on %s but does not hold it (log [%d, %d))", sn.id, key, a.Topic, start, next)
		}
	}
	if int(a.Count) != len(recs) {
		r.failf("ack count %d for a batch of %d", a.Count, len(recs))
	}
}

// findRecord returns the offset of the newest copy of key that l holds.
func findRecord(l *memLog, key recKey) (uint64, bool) {
	if l == nil {
		return 0, false
	}
	for i := len(l.recs) - 1; i >= 0; i-- {
		if l.recs[i].ProducerID == key.pid && l.recs[i].Seq == key.seq {
			return l.start + uint64(i), true
		}
	}
	return 0, false
}

// checkPrefix compares a node's newly committed records with the one
// committed sequence every node must agree on. Records the node no longer
// holds (below its StartOffset) are skipped: retention removed them.
func (r *simRun) checkPrefix(sn *simNode, topic string, c uint64) {
	k := [2]any{sn.id, fmt.Sprint(sn.inc, "/", topic)}
	from := r.checked[k]
	if c <= from {
		return
	}
	l := sn.store.topics[topic]
	if l == nil || l.NextOffset() < c {
		r.failf("node %d reports committed %d on %s but holds fewer records", sn.id, c, topic)
		return
	}
	for off := max(from, l.start); off < c; off++ {
		rec := l.at(off)
		if !r.commitAt(sn.id, topic, off, recKey{rec.ProducerID, rec.Seq}) {
			return
		}
	}
	r.checked[k] = c
}

// commitAt places key at off in the topic's one committed sequence, or
// reports that node id disagrees with what is there.
func (r *simRun) commitAt(id NodeID, topic string, off uint64, key recKey) bool {
	seq := r.committed[topic]
	for uint64(len(seq)) <= off {
		seq = append(seq, recKey{})
	}
	r.committed[topic] = seq
	switch seq[off] {
	case key:
	case recKey{}:
		seq[off] = key
		r.s.logf("node %d commits %s@%d = %v", id, topic, off, key)
	default:
		r.failf("committed prefixes disagree on %s at offset %d: node %d has %v, earlier %v", topic, off, id, key, seq[off])
		return false
	}
	return true
}

func (r *simRun) finalCheck() {
	s := r.s
	ls := s.leaders()
	if len(ls) != 1 {
		r.failf("liveness: %d leaders at the end (%v)", len(ls), leaderIDs(s))
		return
	}
	v := ls[0].node.view
	topics := slices.Sorted(maps.Keys(r.committed))
	for _, topic := range topics {
		// (4) every live member of the final view holds exactly the one
		// committed sequence (from where its retention starts).
		for _, m := range v.Members {
			sn := s.nodes[m.ID]
			if !sn.up {
				continue
			}
			c := sn.node.Committed(topic)
			if c != uint64(len(r.committed[topic])) {
				r.failf("%s: node %d has committed %d, the cluster %d", topic, m.ID, c, len(r.committed[topic]))
			}
			r.checkPrefix(sn, topic, c)
		}
		seq := r.committed[topic]
		// (5) every record a live member holds below its committed end is
		// the committed one — read again in full, so storage damage that
		// was never repaired shows.
		for _, m := range v.Members {
			sn := s.nodes[m.ID]
			l := sn.store.topics[topic]
			if !sn.up || l == nil {
				continue
			}
			// A range retention removed from every other member since it
			// was damaged is gone from the cluster, like any trimmed record.
			others := uint64(0)
			for _, o := range v.Members {
				if ol := s.nodes[o.ID].store.topics[topic]; o.ID != m.ID && s.nodes[o.ID].up && ol != nil {
					others = max(others, ol.start)
				}
			}
			for _, h := range l.Holes() {
				if h.To > others {
					r.failf("%s: node %d still has damaged range %v", topic, m.ID, h)
				}
			}
			for off := l.start; off < min(sn.node.Committed(topic), uint64(len(seq))); off++ {
				if l.lost[off] {
					continue
				}
				if k := (recKey{l.at(off).ProducerID, l.at(off).Seq}); seq[off] != (recKey{}) && k != seq[off] {
					r.failf("%s: node %d holds %v at offset %d, committed %v", topic, m.ID, k, off, seq[off])
					break
				}
			}
		}
		// (1) no record is in the committed sequence twice — unless the
		// first copy had left the owner's retention window when the second
		// was appended (the producer table is rebuilt from the retained log);
		// (3) each producer's records are in the order it sent them. Every
		// offset is known: a node that reports a commit shows its records,
		// and retention shows the records it removes.
		at := map[recKey]uint64{}
		last := map[string]uint64{}
		for off, k := range seq {
			if k == (recKey{}) {
				r.failf("%s: committed offset %d never seen on any node", topic, off)
				continue
			}
			if prev, ok := at[k]; ok {
				if r.limit > 0 && uint64(off)-prev > r.limit {
					r.stats.RetriedAfterTrim++
					continue
				}
				r.failf("%s: record %v at offsets %d and %d", topic, k, prev, off)
			}
			at[k] = uint64(off)
			if k.seq <= last[k.pid] {
				r.failf("%s: producer %s seq %d at offset %d after seq %d", topic, k.pid, k.seq, off, last[k.pid])
			}
			last[k.pid] = k.seq
		}
		// (2) every acknowledged record is committed, and at the offset it
		// was acknowledged at unless retention removed it on the owner
		// (then it is gone from every node: nobody trims at or above the
		// commit point, and members skip only what their source no longer
		// holds).
		ownerStart := uint64(0)
		if o := s.nodes[ls[0].node.ownerOf(topic)]; o.up && o.store.topics[topic] != nil {
			ownerStart = o.store.topics[topic].start
		}
		for _, k := range slices.SortedFunc(maps.Keys(r.acked[topic]), cmpRecKey) {
			if _, ok := at[k]; !ok {
				r.failf("%s: acknowledged record %v was never committed", topic, k)
				continue
			}
			off, ok := r.ackedAt[topic][k]
			if !ok || off < ownerStart {
				r.stats.TrimmedAcked++
				continue
			}
			if off >= uint64(len(seq)) || seq[off] != k {
				r.failf("%s: acknowledged record %v is not at offset %d, which the owner retains from %d", topic, k, off, ownerStart)
			}
		}
	}
	for topic := range r.acked {
		if _, ok := r.committed[topic]; !ok {
			r.failf("%s: acknowledged records but nothing committed", topic)
		}
	}
}
