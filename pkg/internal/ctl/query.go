package ctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// This file is the only one that speaks the wire protocol: it asks a broker
// for metadata and triggers elections, and converts the answers into the
// package's own types so the rest of logstreamctl does not depend on wire.

// brokerQuerier asks running brokers about the cluster.
type brokerQuerier interface {
	Metadata(ctx context.Context, addr string) (*statusreport.Cluster, error)
	TriggerElection(ctx context.Context, addr string) error
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
func (q wireQuerier) Metadata(ctx context.Context, addr string) (*statusreport.Cluster, error) {
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
	return statusreport.FromMetadata(&r), nil
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
