package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// This file is what a monitor (pkg/monitor) reads: snapshots of state the
// broker already keeps, the cluster events seen in its published status,
// and the few measurements a snapshot cannot give, handed to an Observer.
// Nothing here takes a lock on the produce or consume path.

// Observer receives the measurements the broker's snapshots cannot give.
// Config.Observer nil means none are taken. ProduceAcked and Delivered run
// on the produce and consume paths: they must be cheap and never block.
type Observer interface {
	// ProduceAcked reports one answered PRODUCE batch: records and bytes
	// (payload) of the new records it stored (duplicates excluded),
	// latency from handing the batch to the cluster (clusterRepl.Propose) to its answer, and
	// the answer's code (wire.ErrNone: stored by a majority).
	ProduceAcked(topic string, records, bytes int, latency time.Duration, code wire.ErrCode)
	// Delivered reports records sent to a consumer of topic.
	Delivered(topic string, records, bytes int)
	// Recovered reports a view change that froze this broker (no commits)
	// for d before the new view became active; newLeader says whether it
	// also brought a new leader (an election). Called from the cluster loop.
	Recovered(d time.Duration, newLeader bool)
	// Detected reports a failure verdict of this broker's: the peer's part
	// ("leader", "owner", "member"), the verdict ("failed", "timed out")
	// and the silence it was given after. Called from the cluster loop.
	Detected(role, verdict string, silent time.Duration)
}

// payloadBytes is the payload size of a batch, counted only when an Observer
// wants it.
func payloadBytes(recs []record.Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Payload)
	}
	return n
}

// PeerHealth is how this broker's failure detector last judged a member.
// Followers judge only the leader; the leader judges every member.
type PeerHealth struct {
	ID           string
	Addr         string
	Liveness     string        // alive, suspected, failed
	Judged       bool          // the detector has judged it (HeartbeatAge and Phi are meaningful)
	HeartbeatAge time.Duration // silence since its last message
	Phi          float64       // phi-accrual suspicion level (may be +Inf)
}

// TopicHealth is what a topic's metadata does not say.
type TopicHealth struct {
	Name   string
	Owned  bool // this broker owns it
	Synced bool // caught up with the view's agreed log
}

// Snapshot is a broker's state for a monitor, taken without stopping it.
type Snapshot struct {
	Time            time.Time
	Meta            wire.MetadataResponse // what `logstreamctl status` shows
	Role            string                // joining, follower, candidate, leader
	Frozen          bool                  // no commits: recovery or view not yet active
	Member          bool                  // member of the installed view
	Topics          []TopicHealth
	Peers           []PeerHealth
	OpenConnections int
	ViewChanges     uint64 // views installed here since start
	LeaderChanges   uint64 // of which brought a new leader
}

// Ready reports whether the broker serves as a member of an active view
// with every topic caught up, and if not, why.
func (s *Snapshot) Ready() (bool, string) {
	switch {
	case !s.Member || s.Role == cluster.RoleJoining.String():
		return false, "not a member of an installed view (" + s.Role + ")"
	case s.Frozen:
		return false, fmt.Sprintf("view %d not active: view change in progress", s.Meta.View)
	}
	for _, t := range s.Topics {
		if !t.Synced {
			return false, "topic " + t.Name + " not caught up"
		}
	}
	return true, fmt.Sprintf("member of active view %d as %s", s.Meta.View, s.Role)
}

// Snapshot returns the broker's current state.
func (b *Broker) Snapshot() Snapshot {
	st := b.cluster.status.Load()
	s := Snapshot{
		Time: time.Now(), Meta: b.metadata(), Role: st.Role.String(), Frozen: st.Frozen,
		Member: st.View.Has(st.ID), OpenConnections: b.conns.open(),
	}
	for _, t := range st.Topics {
		s.Topics = append(s.Topics, TopicHealth{Name: t.Topic, Owned: t.Owner == st.ID, Synced: t.Synced})
	}
	judged := b.cluster.det.judged()
	for _, m := range st.Members {
		if m.ID == st.ID {
			continue
		}
		p := PeerHealth{ID: idString(m.ID), Addr: m.Addr, Liveness: m.Liveness.String()}
		if j, ok := judged[m.ID]; ok {
			p.Judged, p.HeartbeatAge, p.Phi = true, j.age, j.phi
		}
		s.Peers = append(s.Peers, p)
	}
	s.ViewChanges, s.LeaderChanges = b.watch.counts()
	return s
}

// Events returns the recent cluster events this broker saw, oldest first.
func (b *Broker) Events() []ClusterEvent { return b.watch.recent() }

// CheckHealth reports whether the broker is alive: its cluster loop answers
// within ctx and its data directory takes a write.
func (b *Broker) CheckHealth(ctx context.Context) error {
	done := make(chan struct{})
	if !b.cluster.do(ctx, func(time.Time) { close(done) }) {
		if ctx.Err() != nil {
			return errors.New("cluster loop busy: no answer in time")
		}
		return errors.New("cluster loop stopped")
	}
	select {
	case <-done:
	case <-ctx.Done():
		return errors.New("cluster loop busy: no answer in time")
	case <-b.cluster.quit:
		return errors.New("cluster loop stopped")
	}
	// A file, not a directory: the store only opens directories as topics.
	p := filepath.Join(b.cfg.DataDir, ".healthz")
	if err := os.WriteFile(p, []byte("ok\n"), 0o644); err != nil {
		return fmt.Errorf("data directory not writable: %w", err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// ClusterEvent is one change this broker saw in its cluster status.
type ClusterEvent struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // view, leader, frozen, active, peer, role
	View uint64    `json:"view"`
	Text string    `json:"text"`
}

// maxEvents bounds the events kept for the dashboard.
const maxEvents = 128

// clusterWatch turns the stream of published statuses into events, counts
// and recovery durations. observe runs on the cluster loop at every publish
// (each tick and each installed view), so a view is never missed and a
// frozen spell is timed to within one tick.
type clusterWatch struct {
	mu            sync.Mutex
	obs           Observer
	prev          *cluster.Status
	everActive    bool // a view was active here: later freezes are recoveries
	frozenSince   time.Time
	frozenLeader  cluster.NodeID
	events        []ClusterEvent // ring of maxEvents
	next          int
	viewChanges   uint64
	leaderChanges uint64
	lastDetection time.Time // the newest failure verdict already reported
}

func (w *clusterWatch) add(now time.Time, kind string, view uint64, format string, args ...any) {
	e := ClusterEvent{Time: now, Kind: kind, View: view, Text: fmt.Sprintf(format, args...)}
	if len(w.events) < maxEvents {
		w.events = append(w.events, e)
		return
	}
	w.events[w.next] = e
	w.next = (w.next + 1) % maxEvents
}

func (w *clusterWatch) observe(s *cluster.Status, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.prev
	w.prev = s
	if prev == nil {
		if s.Frozen {
			w.frozenSince, w.frozenLeader = now, s.Leader
		}
		return
	}
	if s.View.Number != prev.View.Number && s.View.Number != 0 {
		w.viewChanges++
		w.add(now, "view", s.View.Number, "VIEW_INSTALL view %d: %d members, leader %d", s.View.Number, len(s.View.Members), s.Leader)
		if s.Leader != prev.Leader && s.Leader != 0 && prev.Leader != 0 {
			w.leaderChanges++
			w.add(now, "leader", s.View.Number, "new leader %d (was %d)", s.Leader, prev.Leader)
		}
	}
	if s.Role != prev.Role {
		w.add(now, "role", s.View.Number, "this broker is now %s", s.Role)
	}
	for _, d := range s.Detections {
		if !d.At.After(w.lastDetection) {
			continue
		}
		w.lastDetection = d.At
		w.add(now, "detect", s.View.Number, "broker %d (%s), the %s, %s after %s of silence", d.Peer.ID, d.Peer.Addr, d.Role, d.Verdict,
			d.Silent.Round(time.Millisecond))
		if w.obs != nil {
			w.obs.Detected(d.Role, d.Verdict, d.Silent)
		}
	}
	old := map[cluster.NodeID]cluster.Liveness{}
	for _, m := range prev.Members {
		old[m.ID] = m.Liveness
	}
	for _, m := range s.Members {
		if l, ok := old[m.ID]; ok && l != m.Liveness {
			w.add(now, "peer", s.View.Number, "broker %d (%s) %s, was %s", m.ID, m.Addr, m.Liveness, l)
		}
	}
	switch {
	case s.Frozen && !prev.Frozen:
		w.frozenSince, w.frozenLeader = now, prev.Leader
		if w.everActive {
			w.add(now, "frozen", s.View.Number, "cluster frozen: view change under way")
		}
	case !s.Frozen && prev.Frozen:
		d := now.Sub(w.frozenSince)
		if w.everActive {
			newLeader := s.Leader != w.frozenLeader
			w.add(now, "active", s.View.Number, "view %d active after %s (leader %d)", s.View.Number, d.Round(time.Millisecond), s.Leader)
			if w.obs != nil {
				w.obs.Recovered(d, newLeader)
			}
		} else {
			w.add(now, "active", s.View.Number, "view %d active: serving (leader %d)", s.View.Number, s.Leader)
		}
		w.everActive = true
	}
}

func (w *clusterWatch) counts() (views, leaders uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.viewChanges, w.leaderChanges
}

func (w *clusterWatch) recent() []ClusterEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ClusterEvent, 0, len(w.events))
	out = append(out, w.events[w.next:]...)
	return append(out, w.events[:w.next]...)
}
