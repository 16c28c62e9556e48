package discovery

import (
	"net/netip"

	"github.com/logstream/logstream/pkg/netaddr"
)

// DefaultTargets is where JOIN goes when Config.Targets is empty: the subnet
// broadcast address of every up, non-loopback interface, on port. A host with
// none (a bare namespace, a laptop offline) broadcasts on loopback,
// 127.255.255.255, which still finds brokers on the same host.
func DefaultTargets(ifaces []netaddr.Iface, port uint16) []netip.AddrPort {
	var out []netip.AddrPort
	seen := map[netip.Addr]bool{}
	add := func(it netaddr.Iface) {
		for _, b := range it.BroadcastAddrs {
			if !seen[b] {
				seen[b] = true
				out = append(out, netip.AddrPortFrom(b, port))
			}
		}
	}
	for _, it := range ifaces {
		if it.Up && !it.Loopback && it.Broadcast {
			add(it)
		}
	}
	if len(out) == 0 {
		for _, it := range ifaces {
			if it.Up && it.Loopback {
				add(it)
			}
		}
	}
	return out
}
