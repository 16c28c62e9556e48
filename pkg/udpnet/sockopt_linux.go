package udpnet

import "golang.org/x/sys/unix"

// Linux delivers to a socket every group that any socket on the host joined
// unless IP_MULTICAST_ALL is off; off keeps a broker's socket to its own group.
var platformMulticastOpts = []sockopt{
	optInt("IP_MULTICAST_ALL", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0),
}
