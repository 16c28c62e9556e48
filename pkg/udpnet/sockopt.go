package udpnet

import (
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockopt is one setsockopt call, named for error messages.
type sockopt struct {
	name string
	set  func(fd int) error
}

func optInt(name string, level, opt, v int) sockopt {
	return sockopt{name, func(fd int) error { return unix.SetsockoptInt(fd, level, opt, v) }}
}

var (
	optReuseAddr = optInt("SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	// SO_REUSEPORT lets several brokers on one host bind the discovery port;
	// the kernel hands each of them a copy of every broadcast and multicast
	// datagram (unicast goes to one of them only, which discovery never uses).
	optReusePort = optInt("SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	optBroadcast = optInt("SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
	// Loop on: brokers on one host must hear each other's multicast.
	optMulticastLoop = optInt("IP_MULTICAST_LOOP", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1)
	// TTL 1: LogStream's multicast never leaves the subnet.
	optMulticastTTL = optInt("IP_MULTICAST_TTL", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1)
)

func optMulticastIf(ip netip.Addr) sockopt {
	return sockopt{"IP_MULTICAST_IF " + ip.String(), func(fd int) error {
		return unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, ip.As4())
	}}
}

func optJoin(group, ifaceIP netip.Addr) sockopt {
	return sockopt{fmt.Sprintf("IP_ADD_MEMBERSHIP %s on %s", group, ifaceIP), func(fd int) error {
		return unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP,
			&unix.IPMreq{Multiaddr: group.As4(), Interface: ifaceIP.As4()})
	}}
}

// control returns a ListenConfig.Control that applies opts in order and
// reports the first failure by name.
func control(opts ...sockopt) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range opts {
				if e := o.set(int(fd)); e != nil {
					serr = fmt.Errorf("setting %s: %w", o.name, e)
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
