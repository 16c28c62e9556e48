package netaddr

import (
	"errors"
	"fmt"
	"net/netip"
)

// Choice is the address a node advertises, with the interface it lives on
// and the broadcast address that reaches its subnet.
type Choice struct {
	Iface     Iface
	IP        netip.Addr
	Broadcast netip.Addr // invalid when the subnet has none (a /31 or /32)
	Reason    string     // one sentence for humans (netdiag, startup log)
}

// LoopbackIP and LoopbackBroadcast are the fallback when a host has no usable
// network: everything still works between processes on this host.
var (
	LoopbackIP        = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	LoopbackBroadcast = netip.AddrFrom4([4]byte{127, 255, 255, 255})
)

// errNoAddress is returned by Pick when not even loopback is usable.
var errNoAddress = errors.New("no usable IPv4 address: no interface is up with an IPv4 address, and loopback is down")

// Pick chooses the IPv4 address LogStream advertises, in this order:
//
//  1. the first interface (in kernel order) that is up, not loopback and
//     broadcast-capable, with a private or global unicast IPv4 address whose
//     subnet has a broadcast address;
//  2. failing that, the first up, non-loopback interface with such an address
//     even without broadcast (e.g. a cloud /32): the node is reachable, but
//     discovery cannot broadcast there, so Broadcast is invalid and users
//     need --leader;
//  3. failing that, loopback: 127.0.0.1, broadcast 127.255.255.255,
//     multicast on lo — a single-host cluster.
//
// Link-local (169.254/16) addresses are never picked: they change on every
// boot and do not route.
func Pick(ifaces []Iface) (Choice, error) {
	for _, it := range ifaces {
		if !it.Up || it.Loopback || !it.Broadcast {
			continue
		}
		for _, p := range it.IPv4() {
			if !advertisable(p.Addr()) {
				continue
			}
			if b, ok := BroadcastAddr(p); ok {
				return Choice{Iface: it, IP: p.Addr(), Broadcast: b,
					Reason: fmt.Sprintf("%s is the first up, non-loopback, broadcast-capable interface with a private or global IPv4 address (%s, broadcast %s)", it.Name, p, b)}, nil
			}
		}
	}
	for _, it := range ifaces {
		if !it.Up || it.Loopback {
			continue
		}
		for _, p := range it.IPv4() {
			if advertisable(p.Addr()) {
				return Choice{Iface: it, IP: p.Addr(),
					Reason: fmt.Sprintf("%s has %s but no subnet broadcast address; other nodes cannot discover this one by broadcast, use --leader", it.Name, p)}, nil
			}
		}
	}
	for _, it := range ifaces {
		if !it.Up || !it.Loopback {
			continue
		}
		for _, p := range it.IPv4() {
			if p.Contains(LoopbackIP) {
				return Choice{Iface: it, IP: LoopbackIP, Broadcast: LoopbackBroadcast,
					Reason: fmt.Sprintf("no up, non-loopback interface has a usable IPv4 address; falling back to loopback %s (single-host cluster only)", it.Name)}, nil
			}
		}
	}
	return Choice{}, errNoAddress
}

// advertisable reports whether other hosts could reach ip.
func advertisable(ip netip.Addr) bool {
	return ip.Is4() && (ip.IsGlobalUnicast() || ip.IsPrivate()) && !ip.IsLinkLocalUnicast()
}

// AutoIP returns the address Pick chooses on this host. It is the `auto`
// function the broker passes to ParseBrokerAddress.
func AutoIP() (netip.Addr, error) {
	ifs, err := Interfaces()
	if err != nil {
		return netip.Addr{}, err
	}
	c, err := Pick(ifs)
	if err != nil {
		return netip.Addr{}, err
	}
	return c.IP, nil
}
