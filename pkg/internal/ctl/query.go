package ctl

import (
	"time"

	"context"
	"errors"
	"fmt"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/wire"
)

// This file is the only one that speaks the wire protocol: it asks a broker
// for metadata and triggers elections, and converts the answers into the
// package's own types so the rest of logstreamctl does not depend on wire.

// brokerQuerier asks running brokers about the cluster.
type brokerQuerier interface {
	Metadata(ctx context.Context, addr string) (*ClusterMeta, error)
	TriggerElection(ctx context.Context, addr string) error
}

// ClusterMeta is one broker's view of the cluster.
type ClusterMeta struct {
	NodeID     string            `json:"node_id"`
	Name       string            `json:"name,omitempty"` // the answering broker's NODE_NAME
	Addr       string            `json:"addr"`
	LeaderID   string            `json:"leader_id"`
	LeaderAddr string            `json:"leader_addr"`
	LeaderName string            `json:"leader_name,omitempty"` // its logstreamctl name, if started here
	View       uint64            `json:"view"`
	ClusterID  string            `json:"cluster_id,omitempty"` // the cluster's identity (16 hex digits)
	Members    []Member          `json:"members"`
	Topics     []TopicStatus     `json:"topics"`
	Consumers  []ConsumerStatus  `json:"consumers"`
	Counters   map[string]uint64 `json:"counters,omitempty"`
	Damage     []DamageStatus    `json:"damage,omitempty"`
	Detections []Detection       `json:"detections,omitempty"`
	// LiveGroups are the shared consumer groups the answering broker
	// coordinates (it owns their topics), with their live members; status
	// shows them under "groups" (groups.go).
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

// DamageStatus is a damaged range of a topic's log on the reporting broker:
// records [From, To) are cut out and skipped (none for kind "index").
type DamageStatus struct {
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

// TopicStatus is a topic's placement and log bounds.
type TopicStatus struct {
	Name        string `json:"name"`
	Owner       string `json:"owner"`
	OwnerAddr   string `json:"owner_addr"`
	OwnerName   string `json:"owner_name,omitempty"` // its logstreamctl name, if started here
	StartOffset uint64 `json:"start_offset"`
	NextOffset  uint64 `json:"next_offset"`
	Committed   uint64 `json:"committed"`
}

// ConsumerStatus is a consumer's progress.
type ConsumerStatus struct {
	ID     string `json:"id"`
	Topic  string `json:"topic"`
	Offset uint64 `json:"offset"`
	Lag    uint64 `json:"lag"`
}

// discoverLeader finds the leader by UDP broadcast on port, as producers
// and consumers do.
func discoverLeader(ctx context.Context, port uint16, key *wire.Key) (string, error) {
	res, err := discovery.Discover(ctx, discovery.Config{Role: wire.RoleCtl, NodeID: client.NewClientID("logstreamctl"),
		Port: port, Key: key, Attempts: 2})
	if err != nil {
		return "", err
	}
	return res.LeaderAddr, nil
}

// wireQuerier talks to brokers over TCP with pkg/wire frames.
type wireQuerier struct {
	// MaxFrame bounds a reply body; 0 means wire.DefaultMaxFrame.
	MaxFrame int
	// Key is the cluster key (nil: an open cluster). A broker with another
	// key refuses the query with an error wrapping wire.ErrAuth.
	Key *wire.Key
}

// roundTrip sends one request and returns the frame answering it
// (client.Request: sealed with the key when there is one; a silent broker is
// bounded by ctx).
func (q wireQuerier) roundTrip(ctx context.Context, addr string, m wire.Message) (wire.Frame, error) {
	f, err := client.Request(ctx, addr, q.MaxFrame, q.Key, m)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("broker %s: %w", addr, err)
	}
	return f, nil
}

// replyError decodes an Error frame.
func replyError(f wire.Frame) error {
	var e wire.Error
	if err := e.Unmarshal(f.Body); err != nil {
		return fmt.Errorf("bad error reply: %w", err)
	}
	if e.Code == wire.ErrNone {
		return nil
	}
	return &e
}

// Metadata asks the broker at addr for its view of the cluster.
func (q wireQuerier) Metadata(ctx context.Context, addr string) (*ClusterMeta, error) {
	f, err := q.roundTrip(ctx, addr, &wire.Metadata{})
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case wire.TypeMetadataResponse:
	case wire.TypeError:
		if err := replyError(f); err != nil {
			return nil, err
		}
		return nil, errors.New("broker answered metadata with an empty acknowledgement")
	default:
		return nil, fmt.Errorf("unexpected reply %s to metadata", f.Type)
	}
	var r wire.MetadataResponse
	if err := r.Unmarshal(f.Body); err != nil {
		return nil, fmt.Errorf("bad metadata reply: %w", err)
	}
	return fromWire(&r), nil
}

// TriggerElection asks the broker at addr to start an election; the broker
// acknowledges with an Error frame carrying ErrNone.
func (q wireQuerier) TriggerElection(ctx context.Context, addr string) error {
	f, err := q.roundTrip(ctx, addr, &wire.ElectionTrigger{})
	if err != nil {
		return err
	}
	if f.Type != wire.TypeError {
		return fmt.Errorf("unexpected reply %s to election trigger", f.Type)
	}
	return replyError(f)
}

func fromWire(r *wire.MetadataResponse) *ClusterMeta {
	m := &ClusterMeta{
		NodeID: r.NodeID, Name: r.Name, Addr: r.Addr, LeaderID: r.LeaderID, LeaderAddr: r.LeaderAddr,
		View: r.View, ClusterID: r.Cluster, Counters: r.Counters,
		Members:   make([]Member, 0, len(r.Brokers)),
		Topics:    make([]TopicStatus, 0, len(r.Topics)),
		Consumers: make([]ConsumerStatus, 0, len(r.Consumers)),
	}
	for _, b := range r.Brokers {
		m.Members = append(m.Members, Member{ID: b.ID, Addr: b.Addr, State: b.State})
	}
	for _, t := range r.Topics {
		m.Topics = append(m.Topics, TopicStatus{Name: t.Name, Owner: t.Owner, OwnerAddr: t.OwnerAddr,
			StartOffset: t.StartOffset, NextOffset: t.NextOffset, Committed: t.Committed})
	}
	for _, c := range r.Consumers {
		m.Consumers = append(m.Consumers, ConsumerStatus{ID: c.ConsumerID, Topic: c.Topic, Offset: c.Offset, Lag: c.Lag})
	}
	for _, d := range r.Damage {
		m.Damage = append(m.Damage, DamageStatus(d))
	}
	for _, x := range r.Detections {
		m.Detections = append(m.Detections, Detection{PeerID: x.PeerID, PeerAddr: x.PeerAddr, Role: x.Role, Verdict: x.Verdict,
			SilentS: float64(x.SilentMs) / 1000, At: time.UnixMilli(int64(x.AtUnixMs)).UTC().Format("2006-01-02T15:04:05.000Z07:00")})
	}
	m.LiveGroups = r.Groups
	return m
}
