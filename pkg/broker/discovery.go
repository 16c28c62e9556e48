package broker

import (
	"context"
	"fmt"
	"net/netip"

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
	b.discovery = discovery.NewResponder(conn, b.answerJoin, b.log)
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

func (b *Broker) answerJoin(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
	me := b.cfg.Advertise.String()
	b.log.Debug().Stringer("role", j.Role).Str("node", j.NodeID).Stringer("from", from).Msg("JOIN received")
	return wire.JoinResponse{
		ResponderID: b.cfg.Name, ResponderAddr: me, IsLeader: true,
		LeaderID: b.cfg.Name, LeaderAddr: me, View: 1,
		Brokers: []wire.BrokerInfo{{ID: b.cfg.Name, Addr: me, State: "leader"}},
	}, true
}
