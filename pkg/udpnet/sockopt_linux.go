package udpnet

import "golang.org/x/sys/unix"

// Linux delivers to a socket every group that any socket on the host joined
// unless IP_MULTICAST_ALL is off; off keeps a broker's socket to its own group.
var platformMulticastOpts = []sockopt{
	optInt("IP_MULTICAST_ALL", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0),
	optRecvBuffer,
}

// multicastRecvBuffer is the receive buffer a multicast socket asks for.
// REPLICATE batches arrive in bursts; a small buffer overflows and drops
// heartbeats with them, which a follower then takes for a dead leader.
const multicastRecvBuffer = 8 << 20

// optRecvBuffer raises the receive buffer past net.core.rmem_max where we
// may (SO_RCVBUFFORCE needs CAP_NET_ADMIN), else as far as the limit allows.
// It never fails the listen: a small buffer only costs retransmissions.
var optRecvBuffer = sockopt{"SO_RCVBUF", func(fd int) error {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, multicastRecvBuffer) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, multicastRecvBuffer)
	}
	return nil
}}
