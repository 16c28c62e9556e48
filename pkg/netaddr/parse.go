package netaddr

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxInput bounds what the parsers look at, so an absurd flag value gives a
// short error rather than echoing megabytes back.
const maxInput = 256

// ParseBrokerAddress parses the broker's --address (NODE_ADDRESS) in the
// manual's three forms:
//
//	""              auto-detected IP, defaultPort
//	"8002", ":8002" auto-detected IP, port 8002
//	"IP:PORT"       exactly that address
//
// auto is called only when the IP is to be detected (normally AutoIP). The
// address is what other nodes will dial, so it must be a unicast IPv4
// address: 0.0.0.0, multicast and IPv6 are refused. Errors start with
// "--address:" so the CLI can print them as they are.
func ParseBrokerAddress(s string, defaultPort uint16, auto func() (netip.Addr, error)) (netip.AddrPort, error) {
	const flag = "--address"
	s = strings.TrimSpace(s)
	if len(s) > maxInput {
		return netip.AddrPort{}, fmt.Errorf("%s: value is %d bytes long; want IP:PORT or PORT", flag, len(s))
	}
	autoWith := func(port uint16) (netip.AddrPort, error) {
		if auto == nil {
			return netip.AddrPort{}, fmt.Errorf("%s: no IP given and no way to detect one", flag)
		}
		ip, err := auto()
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s: detecting this host's IP (give IP:PORT instead): %w", flag, err)
		}
		return netip.AddrPortFrom(ip.Unmap(), port), nil
	}
	if s == "" {
		if defaultPort == 0 {
			return netip.AddrPort{}, fmt.Errorf("%s: no port given and no default", flag)
		}
		return autoWith(defaultPort)
	}
	// ":8002" is a port; "::1" starts an IPv6 address and is refused below.
	if p, ok := strings.CutPrefix(s, ":"); (ok && !strings.HasPrefix(p, ":")) || isDigits(s) {
		if !ok {
			p = s
		}
		port, err := parsePort(p)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s: %w", flag, err)
		}
		return autoWith(port)
	}
	ap, err := parseHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s: %w; or give just a PORT to auto-detect the IP", flag, err)
	}
	if !ap.Addr().Is4() {
		return netip.AddrPort{}, fmt.Errorf("%s: %s is not an IPv4 address; LogStream clusters use IPv4", flag, ap.Addr())
	}
	return ap, nil
}

// parseHostPort parses IP:PORT as given to --leader and similar flags. Host
// names are not resolved: a cluster address must not change under DNS, and a
// lookup at startup would hang without a resolver. The error does not name a
// flag; callers prefix it ("--leader: ...").
func parseHostPort(s string) (netip.AddrPort, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxInput {
		return netip.AddrPort{}, fmt.Errorf("address is %d bytes long; want IP:PORT", len(s))
	}
	if s == "" {
		return netip.AddrPort{}, errors.New("empty address; want IP:PORT such as 192.168.1.10:8001")
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%q has no port; want IP:PORT such as 192.168.1.10:8001", s)
	}
	host, portStr := s[:i], s[i+1:]
	port, err := parsePort(portStr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", s, err)
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return netip.AddrPort{}, fmt.Errorf("%q: put an IPv6 address in brackets, as [::1]:8001", s)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if host == "" {
			return netip.AddrPort{}, fmt.Errorf("%q has no IP; want IP:PORT such as 192.168.1.10:8001", s)
		}
		return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address (host names are not resolved); want IP:PORT such as 192.168.1.10:8001", s, host)
	}
	if ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: zoned addresses are not supported", s)
	}
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("%q: %s means \"any address\" and cannot be dialled; give the node's IP", s, ip)
	case ip.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("%q: %s is a multicast group, not a node address", s, ip)
	}
	return netip.AddrPortFrom(ip, port), nil
}

// parsePort parses a decimal TCP/UDP port in 1..65535.
func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("missing port")
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	// Digits only, so the only possible error is overflow.
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %s out of range (1-65535)", s)
	}
	if n == 0 {
		return 0, errors.New("port 0 out of range (1-65535)")
	}
	return uint16(n), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
