package broker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

// listenDiscovery opens the UDP port JOIN broadcasts arrive on. It binds the
// wildcard address: broadcasts are only delivered to wildcard sockets.
func (b *Broker) listenDiscovery() error {
	if b.cfg.BroadcastPort == 0 {
		return nil // discovery off (in-process tests)
	}
	conn, err := udpnet.ListenBroadcast(context.Background(), netip.IPv4Unspecified(), b.cfg.BroadcastPort)
	if err != nil {
		return fmt.Errorf("listening for JOIN on UDP port %d: %w", b.cfg.BroadcastPort, err)
	}
	b.discovery = discovery.NewResponder(conn, b.answerJoin, b.cfg.Logger)
	b.discovery.SetKey(b.cfg.Key)
	return nil
}

// serveDiscovery answers JOIN broadcasts with the leader's address until ctx
// ends.
func (b *Broker) serveDiscovery(ctx context.Context) error {
	if b.discovery == nil {
		return nil
	}
	return b.discovery.Run(ctx)
}

// answerJoin tells whoever broadcast JOIN who leads. While nobody does (an
// election, a restart of the whole cluster, brokers starting together) it
// still answers, naming no leader and giving its view (0: it has never been
// in a cluster), so the asker waits, elects or bootstraps as cluster.DecideStart
// says rather than founding a second cluster.
func (b *Broker) answerJoin(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
	st := b.cluster.status.Load()
	me := idString(st.ID)
	if j.NodeID == me {
		return wire.JoinResponse{}, false // our own broadcast
	}
	b.log.Debug().Stringer("role", j.Role).Str("node", j.NodeID).Stringer("from", from).Msg("JOIN answered")
	resp := wire.JoinResponse{ResponderID: me, ResponderAddr: b.cfg.Advertise.String(),
		IsLeader: st.Role == cluster.RoleLeader, View: st.View.Number, Brokers: brokerInfos(st),
		Cluster: cluster.ClusterName(st.Cluster)}
	if m, ok := st.View.Member(st.Leader); ok && !st.Frozen {
		resp.LeaderID, resp.LeaderAddr = idString(m.ID), m.Addr
	}
	return resp, true
}

func brokerInfos(st *cluster.Status) []wire.BrokerInfo {
	out := make([]wire.BrokerInfo, 0, len(st.Members))
	for _, m := range st.Members {
		state := m.Liveness.String()
		if m.ID == st.Leader {
			state = "leader"
		}
		out = append(out, wire.BrokerInfo{ID: idString(m.ID), Addr: m.Addr, State: state})
	}
	return out
}

// discoverBrokers looks for a running cluster at broker start, within the
// 2-second budget the manual promises before a lone broker leads.
func discoverBrokers(ctx context.Context, cfg Config, id string, log zerolog.Logger) (discovery.Result, error) {
	res, err := discovery.Discover(ctx, discovery.Config{
		Role: wire.RoleBroker, NodeID: id, Addr: cfg.Advertise.String(), Port: cfg.BroadcastPort,
		Attempts: 2, Listen: 600 * time.Millisecond,
		Backoff: discovery.Backoff{Initial: 500 * time.Millisecond, Factor: 1.5, Max: 10 * time.Second},
		Logger:  log, Key: cfg.Key,
	})
	if errors.Is(err, discovery.ErrNoCluster) {
		return res, errNoCluster
	}
	return res, err
}

func clientMetadata(ctx context.Context, addr string, maxFrame int, key *wire.Key) (*wire.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return client.MetadataKeyed(ctx, addr, maxFrame, key)
}
