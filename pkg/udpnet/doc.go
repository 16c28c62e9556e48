// Package udpnet opens the UDP sockets LogStream's discovery and replication
// need, with the socket options set before bind through net.ListenConfig.
//
// Ownership: every function returns a *net.UDPConn the caller owns and must
// Close. Close is also how a blocked ReadFrom is woken: the goroutine that
// owns a conn arranges for it to be closed when its context ends (CloseOnDone
// does exactly that). Writes never block for long: Send sets a write deadline
// on every datagram.
//
// The package never chooses where to send; callers decide, and tests keep to
// 127.0.0.1 or to a network namespace of their own (see udpnettest).
package udpnet
