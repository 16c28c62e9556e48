// Package netdiag is the `logstream netdiag` role: it shows the host's
// interfaces, which address LogStream would advertise and why, where
// discovery would broadcast, and with --self-test whether UDP broadcast and
// multicast actually work.
//
// The self-test is loopback-only by default: it sends to 127.255.255.255 and
// to a multicast group through lo (IP_MULTICAST_IF 127.0.0.1, TTL 1), traffic
// that never leaves the host. Only --on-network sends on the interface
// LogStream would use, i.e. onto the LAN; the user must ask for that.
package netdiag
