package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/udpnet/udpnettest"
	"github.com/logstream/logstream/pkg/wire"
)

// TestDiscoverBroadcastInNetns runs discovery exactly as deployed — JOIN
// broadcast to the default targets, brokers sharing the discovery port — in
// a private namespace whose only network is lo (broadcast 127.255.255.255).
func TestDiscoverBroadcastInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	ctx := context.Background()
	c1, err := udpnet.ListenBroadcast(ctx, netip.Addr{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	port := c1.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	c2, err := udpnet.ListenBroadcast(ctx, netip.Addr{}, port)
	if err != nil {
		t.Fatal(err)
	}
	runResponder(t, c1, leader("node1", "127.0.0.1:8001", 2))
	runResponder(t, c2, follower("node2", "127.0.0.1:8002", "node1", "127.0.0.1:8001", 2))

	res, err := Discover(ctx, Config{Role: wire.RoleConsumer, NodeID: "cons1", Port: port,
		Attempts: 3, Listen: 300 * time.Millisecond, Backoff: Backoff{Initial: 100 * time.Millisecond}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.LeaderID != "node1" || res.LeaderAddr != "127.0.0.1:8001" {
		t.Fatalf("result %+v", res)
	}

	// Nobody listens on the next port: no cluster there.
	_, err = Discover(ctx, Config{Role: wire.RoleBroker, NodeID: "node1", Port: port + 1,
		Attempts: 2, Listen: 200 * time.Millisecond, Backoff: Backoff{Initial: 100 * time.Millisecond}, Logger: testLogger(t)})
	if !errors.Is(err, ErrNoCluster) {
		t.Fatalf("empty port: err = %v, want ErrNoCluster", err)
	}
}

// TestLoneBrokerInNetns: a broker's own Responder hears its broadcast JOIN;
// with nobody else there Discover reports ErrNoCluster within the broker's
// start-up budget.
func TestLoneBrokerInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	ctx := context.Background()
	c, err := udpnet.ListenBroadcast(ctx, netip.Addr{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	heard := make(chan struct{}, 4)
	self := leader("node1", "127.0.0.1:8001", 1)
	runResponder(t, c, func(j wire.Join, from netip.AddrPort) (wire.JoinResponse, bool) {
		heard <- struct{}{}
		return self(j, from)
	})
	cfg := Config{Role: wire.RoleBroker, NodeID: "node1", Port: c.LocalAddr().(*net.UDPAddr).AddrPort().Port(),
		Attempts: 2, Listen: 300 * time.Millisecond, Backoff: Backoff{Initial: 200 * time.Millisecond}, Logger: testLogger(t)}
	if _, err := Discover(ctx, cfg); !errors.Is(err, ErrNoCluster) {
		t.Fatalf("err = %v, want ErrNoCluster", err)
	}
	select {
	case <-heard: // the broadcast really reached the broker's own socket
	case <-time.After(hangGuard):
		t.Fatal("the broadcast JOIN never arrived")
	}
}
