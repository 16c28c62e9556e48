// Package statusreport is the shape of a cluster status report: what
// `logstreamctl status --json` prints and what a broker's monitoring
// listener serves at /status, built from brokers' METADATA answers. Both
// use these types so a script reads one shape from either. It does no I/O:
// asking the brokers is the caller's (logstreamctl's, the monitor's).
package statusreport

import (
	"slices"
	"time"

	"github.com/logstream/logstream/pkg/wire"
)

// Broker is what one broker answered (or that it did not).
type Broker struct {
	Name      string   `json:"name,omitempty"` // local process name, if managed here
	Addr      string   `json:"addr"`
	Reachable bool     `json:"reachable"`
	Error     string   `json:"error,omitempty"`
	Meta      *Cluster `json:"-"`
	Err       error    `json:"-"` // why it is unreachable (Error is its text)
	NodeID    string   `json:"node_id,omitempty"`
	LeaderID  string   `json:"leader_id,omitempty"`
	View      uint64   `json:"view,omitempty"`
}

// Report is the whole `logstreamctl status --json` output.
type Report struct {
	Time        time.Time `json:"time"`
	Processes   []Process `json:"processes"`
	Brokers     []Broker  `json:"brokers"`
	ClusterFrom string    `json:"cluster_from,omitempty"`
	Cluster     *Cluster  `json:"cluster,omitempty"`
	// FoundBy says how the brokers asked were found when none is managed
	// here: "broadcast" (the leader answered a JOIN), or why not.
	FoundBy string `json:"found_by,omitempty"`
	// Groups: the consumer groups' positions; GroupsError
	// says why they could not be read.
	Groups      []Group `json:"groups,omitempty"`
	GroupsError string  `json:"groups_error,omitempty"`
}

// Process is one row of `logstreamctl list` (and of status): a process
// logstreamctl started on this machine.
type Process struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Status     string    `json:"status"` // running or stopped
	PID        int       `json:"pid"`
	Address    string    `json:"address"` // broker: its address; client: its leader
	Topic      string    `json:"topic"`
	StartedAt  time.Time `json:"started_at"`
	UptimeSec  int64     `json:"uptime_seconds"`
	Background bool      `json:"background"`
	LogFile    string    `json:"log_file,omitempty"`
}

// Cluster is one broker's view of the cluster.
type Cluster struct {
	NodeID     string            `json:"node_id"`
	Name       string            `json:"name,omitempty"` // the answering broker's NODE_NAME
	Addr       string            `json:"addr"`
	LeaderID   string            `json:"leader_id"`
	LeaderAddr string            `json:"leader_addr"`
	LeaderName string            `json:"leader_name,omitempty"` // its logstreamctl name, if started here
	View       uint64            `json:"view"`
	ClusterID  string            `json:"cluster_id,omitempty"` // the cluster's identity (16 hex digits)
	Members    []Member          `json:"members"`
	Topics     []Topic           `json:"topics"`
	Consumers  []Consumer        `json:"consumers"`
	Counters   map[string]uint64 `json:"counters,omitempty"`
	Damage     []Damage          `json:"damage,omitempty"`
	Detections []Detection       `json:"detections,omitempty"`
	// LiveGroups are the shared consumer groups the answering broker
	// coordinates (it owns their topics), with their live members; status
	// shows them under "groups".
	LiveGroups []wire.GroupInfo `json:"-"`
}

// Detection is one failure verdict of the answering broker: how long the
// peer had been silent when it was judged.
type Detection struct {
	PeerID   string  `json:"peer_id"`
	PeerAddr string  `json:"peer_addr"`
	Role     string  `json:"role"`
	Verdict  string  `json:"verdict"`
	SilentS  float64 `json:"silent_seconds"`
	At       string  `json:"at"` // RFC 3339, milliseconds
}

// Damage is a damaged range of a topic's log on the reporting broker:
// records [From, To) are cut out and skipped (none for kind "index").
type Damage struct {
	Topic  string `json:"topic"`
	File   string `json:"file"`
	Kind   string `json:"kind"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Pos    uint64 `json:"pos"`
	End    uint64 `json:"end"`
	Action string `json:"action"`
}

// Member is a broker in the view.
type Member struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"` // its logstreamctl name, if started here
	Addr  string `json:"addr"`
	State string `json:"state"`
}

// Topic is a topic's placement and log bounds.
type Topic struct {
	Name        string `json:"name"`
	Owner       string `json:"owner"`
	OwnerAddr   string `json:"owner_addr"`
	OwnerName   string `json:"owner_name,omitempty"` // its logstreamctl name, if started here
	StartOffset uint64 `json:"start_offset"`
	NextOffset  uint64 `json:"next_offset"`
	Committed   uint64 `json:"committed"`
}

// Consumer is a consumer's progress.
type Consumer struct {
	ID     string `json:"id"`
	Topic  string `json:"topic"`
	Offset uint64 `json:"offset"`
	Lag    uint64 `json:"lag"`
}

// Group is a consumer group's position in one topic.
type Group struct {
	Group      string    `json:"group"`
	Topic      string    `json:"topic"`
	Position   uint64    `json:"position"`    // next offset the group will read
	Lag        uint64    `json:"lag"`         // committed records after it
	LastMember string    `json:"last_member"` // the consumer that acknowledged last
	AckedAt    time.Time `json:"acked_at"`    // when (that consumer's clock)
	ExpiresAt  time.Time `json:"expires_at"`  // when it is forgotten if nothing is acknowledged
	// Members are the group's live consumers on the topic, as the
	// topic's owner sees them (none when nobody reads it now). While
	// there are some, Position is the owner's live one (the stored one
	// follows it within the acknowledgement interval).
	Members []GroupMember `json:"members"`
}

// GroupMember is one live consumer of a shared group.
type GroupMember struct {
	ID     string `json:"id"`     // consumer id, with the owner's member number after '#'
	Addr   string `json:"addr"`   // its address as the owner sees it
	Leased uint64 `json:"leased"` // records it holds unacknowledged
	Acked  uint64 `json:"acked"`  // records it acknowledged since it joined
}

// FromMetadata is the cluster as a broker's METADATA answer r describes it.
func FromMetadata(r *wire.MetadataResponse) *Cluster {
	m := &Cluster{
		NodeID: r.NodeID, Name: r.Name, Addr: r.Addr, LeaderID: r.LeaderID, LeaderAddr: r.LeaderAddr,
		View: r.View, ClusterID: r.Cluster, Counters: r.Counters,
		Members:   make([]Member, 0, len(r.Brokers)),
		Topics:    make([]Topic, 0, len(r.Topics)),
		Consumers: make([]Consumer, 0, len(r.Consumers)),
	}
	for _, b := range r.Brokers {
		m.Members = append(m.Members, Member{ID: b.ID, Addr: b.Addr, State: b.State})
	}
	for _, t := range r.Topics {
		m.Topics = append(m.Topics, Topic{Name: t.Name, Owner: t.Owner, OwnerAddr: t.OwnerAddr,
			StartOffset: t.StartOffset, NextOffset: t.NextOffset, Committed: t.Committed})
	}
	for _, c := range r.Consumers {
		m.Consumers = append(m.Consumers, Consumer{ID: c.ConsumerID, Topic: c.Topic, Offset: c.Offset, Lag: c.Lag})
	}
	for _, d := range r.Damage {
		m.Damage = append(m.Damage, Damage(d))
	}
	for _, x := range r.Detections {
		m.Detections = append(m.Detections, Detection{PeerID: x.PeerID, PeerAddr: x.PeerAddr, Role: x.Role, Verdict: x.Verdict,
			SilentS: float64(x.SilentMs) / 1000, At: time.UnixMilli(int64(x.AtUnixMs)).UTC().Format("2006-01-02T15:04:05.000Z07:00")})
	}
	m.LiveGroups = r.Groups
	return m
}

// Named returns a copy of m in which every broker named in names (address →
// name: those logstreamctl started here) carries its name: node ids are long
// numbers, and the user knows their brokers as node1, node2...
func Named(m *Cluster, names map[string]string) *Cluster {
	c := *m
	c.LeaderName = names[m.LeaderAddr]
	c.Members = slices.Clone(m.Members)
	for i := range c.Members {
		c.Members[i].Name = names[c.Members[i].Addr]
	}
	c.Topics = slices.Clone(m.Topics)
	for i := range c.Topics {
		c.Topics[i].OwnerName = names[c.Topics[i].OwnerAddr]
	}
	return &c
}

// OfBroker is what `logstreamctl status --json --broker ADDR` prints for one
// broker that answered r, without local processes. A broker's monitor serves
// it at /status, so scripts read one shape from both.
func OfBroker(r *wire.MetadataResponse, now time.Time) Report {
	meta := FromMetadata(r)
	return Report{
		Time: now, Processes: []Process{},
		Brokers: []Broker{{Addr: r.Addr, Reachable: true, Meta: meta,
			NodeID: meta.NodeID, LeaderID: meta.LeaderID, View: meta.View}},
		ClusterFrom: r.Addr, Cluster: Named(meta, nil),
	}
}
