package discovery

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

// BenchmarkResponderRoundTrip measures one JOIN → JOIN_RESPONSE exchange
// over 127.0.0.1 unicast.
func BenchmarkResponderRoundTrip(b *testing.B) {
	conn, err := udpnet.ListenBroadcast(b.Context(), loopback, 0)
	if err != nil {
		b.Fatal(err)
	}
	r := NewResponder(conn, leader("node1", "127.0.0.1:8001", 1), zerolog.Nop())
	done := make(chan error, 1)
	go func() { done <- r.Run(b.Context()) }()
	b.Cleanup(func() { <-done }) // b.Context ends before cleanups run
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	tx, err := udpnet.NewSenderOn(netip.AddrPortFrom(loopback, 0), netip.Addr{})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	join := appendJoin(nil, wire.Join{Role: wire.RoleProducer, NodeID: "p", Nonce: 1})
	buf := make([]byte, udpnet.MaxDatagram)
	for b.Loop() {
		if err := udpnet.Send(tx, join, to, 0); err != nil {
			b.Fatal(err)
		}
		tx.SetReadDeadline(time.Now().Add(hangGuard))
		n, _, err := tx.ReadFromUDPAddrPort(buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parseJoinResponse(buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	var in []answer
	for i := range 5 {
		in = append(in, answer{from: netip.AddrPortFrom(loopback, uint16(9000+i)),
			resp: wire.JoinResponse{ResponderID: string(rune('a' + i)), LeaderID: "a", LeaderAddr: "10.0.0.1:8001", View: uint64(i), IsLeader: i == 0}})
	}
	for b.Loop() {
		if decide(in).outcome != outcomeFound {
			b.Fatal("not found")
		}
	}
}
