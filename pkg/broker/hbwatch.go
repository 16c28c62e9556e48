package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/cluster"
)

// hbWatch turns the cluster's heartbeats into the few HEARTBEAT lines the
// manual's `grep HEARTBEAT node.log` is for: when heartbeats from or to a
// peer start, go quiet (suspected), stop, or resume, and one summary line
// every hbSummaryBeats heartbeat intervals. Each heartbeat itself stays a
// debug line (pkg/cluster). Loop-owned: the cluster loop calls every method.
type hbWatch struct {
	log      zerolog.Logger
	beat     time.Duration // the longer heartbeat interval: the slowest a live peer beats
	suspect  time.Duration // silence after which a flowing peer is "suspected"
	stop     time.Duration // silence after which it has "stopped"
	summary  time.Duration
	nextSum  time.Time
	from, to map[cluster.NodeID]*hbFlow
	nSent    uint64 // heartbeats sent since the last summary
	nGot     uint64 // heartbeats received since the last summary
}

// hbSummaryBeats is how many heartbeat intervals one summary covers: 30 s
// with the manual's 5 s BROKER_HB_INTERVAL.
const hbSummaryBeats = 6

// hbFlow is the heartbeats of one direction with one peer.
type hbFlow struct {
	name   string // display name, as of the last heartbeat
	last   time.Time
	silent bool // logged as suspected or stopped, not yet resumed
	gone   bool // logged as stopped
}

func newHBWatch(log zerolog.Logger, beat, suspicion, failure time.Duration, now time.Time) *hbWatch {
	return &hbWatch{
		log: log, beat: beat, suspect: max(suspicion, 2*beat), stop: max(failure, 3*beat),
		summary: hbSummaryBeats * beat, nextSum: now.Add(hbSummaryBeats * beat),
		from: map[cluster.NodeID]*hbFlow{}, to: map[cluster.NodeID]*hbFlow{},
	}
}

// received notes a heartbeat from a peer.
func (w *hbWatch) received(id cluster.NodeID, name string, now time.Time) {
	w.nGot++
	w.note(w.from, "from", id, name, now)
}

// sent notes a heartbeat to a peer.
func (w *hbWatch) sent(id cluster.NodeID, name string, now time.Time) {
	w.nSent++
	w.note(w.to, "to", id, name, now)
}

func (w *hbWatch) note(flows map[cluster.NodeID]*hbFlow, dir string, id cluster.NodeID, name string, now time.Time) {
	f, ok := flows[id]
	switch {
	case !ok:
		flows[id] = &hbFlow{name: name, last: now}
		w.log.Info().Str("peer", name).Str("direction", dir).Msgf("HEARTBEAT %s %s started", dir, name)
		return
	case f.silent:
		w.log.Info().Str("peer", name).Str("direction", dir).Dur("silent", now.Sub(f.last)).
			Msgf("HEARTBEAT %s %s resumed after %s", dir, name, roundDur(now.Sub(f.last)))
		f.silent, f.gone = false, false
	}
	f.name, f.last = name, now
}

// tick judges every flow's silence and writes the periodic summary.
// Heartbeats flow between the leader and each member only, so a flow with a
// peer that left the view, or with a follower once we no longer lead (or a
// leader that no longer leads), ends: it is said once and forgotten.
func (w *hbWatch) tick(now time.Time, st *cluster.Status) {
	expected := func(id cluster.NodeID) (bool, string) {
		switch {
		case !st.View.Has(id):
			return false, "no longer a member of the view"
		case st.Role == cluster.RoleLeader || id == st.Leader:
			return true, ""
		}
		return false, "the leader changed"
	}
	for _, dir := range []string{"from", "to"} {
		flows := w.from
		if dir == "to" {
			flows = w.to
		}
		for id, f := range flows {
			if ok, why := expected(id); !ok {
				w.end(dir, f, now, why)
				delete(flows, id)
				continue
			}
			w.judge(dir, f, now)
		}
	}
	if !now.Before(w.nextSum) {
		w.writeSummary(now)
	}
}

// end says once that a flow still going ended for why.
func (w *hbWatch) end(dir string, f *hbFlow, now time.Time, why string) {
	if f.gone {
		return
	}
	silent := now.Sub(f.last)
	w.log.Info().Str("peer", f.name).Str("direction", dir).Dur("silent", silent).
		Msgf("HEARTBEAT %s %s stopped: %s (last %s ago)", dir, f.name, why, roundDur(silent))
}

func (w *hbWatch) judge(dir string, f *hbFlow, now time.Time) {
	silent := now.Sub(f.last)
	switch {
	case !f.gone && silent >= w.stop:
		f.silent, f.gone = true, true
		w.log.Warn().Str("peer", f.name).Str("direction", dir).Dur("silent", silent).
			Msgf("HEARTBEAT %s %s stopped: none for %s", dir, f.name, roundDur(silent))
	case !f.silent && silent >= w.suspect:
		f.silent = true
		w.log.Warn().Str("peer", f.name).Str("direction", dir).Dur("silent", silent).
			Msgf("HEARTBEAT %s %s suspected: none for %s", dir, f.name, roundDur(silent))
	}
}

// writeSummary logs one line: heartbeats sent and received since the last
// one, and every peer's last heartbeat.
func (w *hbWatch) writeSummary(now time.Time) {
	period := w.summary + now.Sub(w.nextSum)
	w.nextSum = now.Add(w.summary)
	if w.nSent == 0 && w.nGot == 0 && len(w.from) == 0 && len(w.to) == 0 {
		return // a lone broker: nothing to say
	}
	var peers []string
	for _, f := range w.from {
		peers = append(peers, fmt.Sprintf("%s %s ago", f.name, roundDur(now.Sub(f.last))))
	}
	w.log.Info().Uint64("sent", w.nSent).Uint64("received", w.nGot).Int("peers_heard", len(w.from)).
		Msgf("HEARTBEAT summary: %d sent, %d received in the last %s; last heard: %s",
			w.nSent, w.nGot, roundDur(period), strings.Join(orNone(peers), ", "))
	w.nSent, w.nGot = 0, 0
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}

func roundDur(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// heardHeartbeat feeds a member's heartbeat to the watch (loop-owned).
func (r *clusterRepl) heardHeartbeat(m *cluster.Heartbeat, now time.Time) {
	// The leader's multicast heartbeat comes back to it: not a peer's.
	if st := r.status.Load(); m.From != r.id && st.View.Has(m.From) {
		r.hb.received(m.From, cluster.Display(m.From, "", m.Addr), now)
	}
}

// sentHeartbeat feeds a heartbeat we send to the watch: one to the leader,
// or one multicast to every member (loop-owned).
func (r *clusterRepl) sentHeartbeat(env cluster.Envelope, now time.Time) {
	if _, ok := env.Msg.(*cluster.Heartbeat); !ok {
		return
	}
	if env.To != 0 {
		r.hb.sent(env.To, cluster.Display(env.To, "", r.book[env.To]), now)
		return
	}
	for _, m := range r.status.Load().View.Members {
		if m.ID != r.id {
			r.hb.sent(m.ID, cluster.Display(m.ID, "", m.Addr), now)
		}
	}
}
