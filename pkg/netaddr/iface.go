package netaddr

import (
	"fmt"
	"net"
	"net/netip"
)

// Iface is one network interface as LogStream sees it.
type Iface struct {
	Name      string
	Index     int
	Up        bool // administratively up (IFF_UP)
	Loopback  bool
	Broadcast bool // the interface supports broadcast (IFF_BROADCAST)
	Multicast bool // the interface advertises multicast (IFF_MULTICAST); Linux's lo does not, yet multicast works on it
	Addrs     []netip.Prefix
	// BroadcastAddrs holds the subnet broadcast address of every IPv4 prefix
	// that has one, in the order of Addrs. It is filled for broadcast-capable
	// interfaces and for loopback (Linux delivers 127.255.255.255 on lo).
	BroadcastAddrs []netip.Addr
	MTU            int
}

// Interfaces lists the host's interfaces. It only reads kernel state; it
// opens no socket.
func Interfaces() ([]Iface, error) {
	nifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	out := make([]Iface, 0, len(nifs))
	for i := range nifs {
		ni := &nifs[i]
		addrs, err := ni.Addrs()
		if err != nil {
			// One unreadable interface must not hide the others.
			addrs = nil
		}
		out = append(out, fromNet(ni, addrs))
	}
	return out, nil
}

// fromNet converts the standard library's view; split out so it is testable.
func fromNet(ni *net.Interface, addrs []net.Addr) Iface {
	it := Iface{
		Name:      ni.Name,
		Index:     ni.Index,
		Up:        ni.Flags&net.FlagUp != 0,
		Loopback:  ni.Flags&net.FlagLoopback != 0,
		Broadcast: ni.Flags&net.FlagBroadcast != 0,
		Multicast: ni.Flags&net.FlagMulticast != 0,
		MTU:       ni.MTU,
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		ones, bits := ipn.Mask.Size()
		if bits == 0 || bits != ip.BitLen() {
			continue // non-canonical mask: not an address we can reason about
		}
		it.Addrs = append(it.Addrs, netip.PrefixFrom(ip, ones))
	}
	it.BroadcastAddrs = broadcastAddrs(it)
	return it
}

func broadcastAddrs(it Iface) []netip.Addr {
	if !it.Broadcast && !it.Loopback {
		return nil
	}
	var out []netip.Addr
	for _, p := range it.Addrs {
		if b, ok := BroadcastAddr(p); ok {
			out = append(out, b)
		}
	}
	return out
}

// IPv4 returns the interface's IPv4 prefixes.
func (it Iface) IPv4() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range it.Addrs {
		if p.Addr().Is4() {
			out = append(out, p)
		}
	}
	return out
}
