package netdiag

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/logstream/logstream/pkg/netaddr"
	"github.com/logstream/logstream/pkg/udpnet"

	"github.com/logstream/logstream/pkg/wire"
)

// check is one self-test result.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// selfTestConfig says what to test.
type selfTestConfig struct {
	Group     netip.Addr // multicast group; the loopback test uses an ephemeral port
	Timeout   time.Duration
	OnNetwork *netaddr.Choice // nil: loopback only. Otherwise also test here, on the LAN.
	// Ports used on the network (the real discovery port and group port, so a
	// local firewall rule on them shows up). Loopback tests use free ports.
	NetBroadcastPort uint16
	NetGroupPort     uint16
}

// selfTest runs the checks. Without OnNetwork every datagram it sends is
// addressed to 127.255.255.255 or leaves through lo with TTL 1.
func selfTest(ctx context.Context, cfg selfTestConfig) []check {
	checks := []check{
		broadcastCheck(ctx, "broadcast on loopback", netaddr.LoopbackIP, netaddr.LoopbackBroadcast, 0, cfg.Timeout),
		multicastCheck(ctx, "multicast on loopback", netaddr.LoopbackIP, netip.AddrPortFrom(cfg.Group, 0), cfg.Timeout),
	}
	if c := cfg.OnNetwork; c != nil {
		if c.Broadcast.IsValid() {
			checks = append(checks, broadcastCheck(ctx, "broadcast on "+c.Iface.Name, c.IP, c.Broadcast, cfg.NetBroadcastPort, cfg.Timeout))
		} else {
			checks = append(checks, check{Name: "broadcast on " + c.Iface.Name, Detail: "no subnet broadcast address (" + c.Reason + ")"})
		}
		checks = append(checks, multicastCheck(ctx, "multicast on "+c.Iface.Name, c.IP, netip.AddrPortFrom(cfg.Group, cfg.NetGroupPort), cfg.Timeout))
	}
	return checks
}

// broadcastCheck binds a receiver to the broadcast address itself (Linux
// delivers broadcasts to sockets bound there), sends one probe from ip to it,
// and waits for the probe to come back.
func broadcastCheck(ctx context.Context, name string, ip, bcast netip.Addr, port uint16, timeout time.Duration) check {
	rx, err := udpnet.ListenBroadcast(ctx, bcast, port)
	if err != nil {
		return check{Name: name, Detail: "cannot listen: " + err.Error()}
	}
	defer rx.Close()
	tx, err := udpnet.NewSenderOn(netip.AddrPortFrom(ip, 0), ip)
	if err != nil {
		return check{Name: name, Detail: "cannot open sender: " + err.Error()}
	}
	defer tx.Close()
	to := netip.AddrPortFrom(bcast, localPort(rx))
	return probe(ctx, name, tx, rx, to, timeout)
}

// multicastCheck joins group on the interface with ip, multicasts one probe
// through that interface (TTL 1, loopback on) and waits for it.
func multicastCheck(ctx context.Context, name string, ip netip.Addr, group netip.AddrPort, timeout time.Duration) check {
	rx, err := udpnet.ListenMulticast(ctx, group, ip)
	if err != nil {
		return check{Name: name, Detail: "cannot join: " + err.Error()}
	}
	defer rx.Close()
	tx, err := udpnet.NewSenderOn(netip.AddrPortFrom(ip, 0), ip)
	if err != nil {
		return check{Name: name, Detail: "cannot open sender: " + err.Error()}
	}
	defer tx.Close()
	to := netip.AddrPortFrom(group.Addr(), localPort(rx))
	return probe(ctx, name, tx, rx, to, timeout)
}

func localPort(c *net.UDPConn) uint16 { return c.LocalAddr().(*net.UDPAddr).AddrPort().Port() }

// probe sends a random token and reads until it returns, other traffic on
// the port is skipped, bounded by count and by timeout.
func probe(ctx context.Context, name string, tx, rx *net.UDPConn, to netip.AddrPort, timeout time.Duration) check {
	msg := fmt.Sprintf("logstream-netdiag %016x", wire.RandomID())
	if err := udpnet.Send(tx, []byte(msg), to, 0); err != nil {
		return check{Name: name, Detail: fmt.Sprintf("send to %s failed: %v", to, err)}
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	rx.SetReadDeadline(deadline)
	buf := make([]byte, 512)
	for range 1000 {
		n, from, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			return check{Name: name, Detail: fmt.Sprintf("sent to %s but nothing came back within %v: %v", to, timeout, err)}
		}
		if string(buf[:n]) == msg {
			return check{Name: name, OK: true, Detail: fmt.Sprintf("sent to %s, received from %s", to, from)}
		}
	}
	return check{Name: name, Detail: fmt.Sprintf("sent to %s; too much other traffic on the port", to)}
}
