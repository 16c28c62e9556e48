package testnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// hostOffset is the host part of host 0's address: 10.77.N.10, .11, …
const hostOffset = 10

// broadcastOf returns the all-ones host address of an IPv4 prefix.
func broadcastOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := range a {
		// Bits of byte i that belong to the host part.
		hostBits := min(max(8*(i+1)-bits, 0), 8)
		a[i] |= byte(0xff >> (8 - hostBits))
	}
	return netip.AddrFrom4(a)
}

// hostAddr returns host i's address in p: network + hostOffset + i. It fails
// when that address would reach the broadcast address.
func hostAddr(p netip.Prefix, i int) (netip.Addr, error) {
	a := p.Masked().Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n += uint32(hostOffset + i)
	addr := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	if !p.Contains(addr) || addr == broadcastOf(p) {
		return netip.Addr{}, fmt.Errorf("subnet %s has no room for host %d", p, i)
	}
	return addr, nil
}

// parseSubnet validates an Options.Subnet value.
func parseSubnet(s string, hosts int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("Options.Subnet: %w", err)
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("Options.Subnet %s: want an IPv4 prefix of /30 or wider", s)
	}
	p = p.Masked()
	if _, err := hostAddr(p, hosts-1); err != nil {
		return netip.Prefix{}, fmt.Errorf("Options.Subnet: %w", err)
	}
	return p, nil
}

// pickSubnet returns the first 10.77.N.0/24, N starting at seed, that used
// does not claim. The networks are sealed, so a clash could not misroute
// anything; avoiding the machine's own subnets only keeps `ip` output and
// packet captures unambiguous for a person reading them.
func pickSubnet(seed uint64, used func(netip.Prefix) bool) (netip.Prefix, error) {
	for k := range uint64(256) {
		n := byte((seed + k) % 256)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, n, 0}), 24)
		if !used(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free 10.77.N.0/24 subnet")
}

// rootSubnets reports whether p overlaps an address of the namespace the
// calling thread is in (the machine's own, when called from New).
func rootSubnets() func(netip.Prefix) bool {
	addrs, _ := net.InterfaceAddrs()
	var mine []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if pfx, err := netip.ParsePrefix(ipn.String()); err == nil {
				mine = append(mine, pfx.Masked())
			}
		}
	}
	return func(p netip.Prefix) bool {
		for _, m := range mine {
			if m.Overlaps(p) {
				return true
			}
		}
		return false
	}
}
