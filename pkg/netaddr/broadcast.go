package netaddr

import "net/netip"

// BroadcastAddr returns the directed broadcast address of an IPv4 subnet:
// the prefix's address with every host bit set (10.77.0.10/24 → 10.77.0.255).
//
// It reports false where no broadcast address exists: IPv6 (which has no
// broadcast), /31 point-to-point links (RFC 3021: both addresses are hosts),
// /32 host routes, and invalid prefixes.
func BroadcastAddr(p netip.Prefix) (netip.Addr, bool) {
	if !p.IsValid() {
		return netip.Addr{}, false
	}
	ip := p.Addr().Unmap()
	if !ip.Is4() || p.Bits() > 30 {
		return netip.Addr{}, false
	}
	b := ip.As4()
	host := ^uint32(0) >> p.Bits() // the host bits, all set
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
