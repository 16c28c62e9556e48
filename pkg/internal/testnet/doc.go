// Package testnet builds small, sealed IPv4 networks out of Linux network
// namespaces for LogStream's multi-host tests.
//
// A Network is one "switch" namespace holding a Linux bridge plus N host
// namespaces, each joined to the bridge by a veth pair. The bridge never lives
// in the machine's own namespace and no link, address or route of a Network
// touches it, so broadcast and multicast sent by the hosts stay inside the
// Network. Every name a run makes starts with "lst-<pid>-", which lets a later
// run find and delete what a crashed run left behind.
//
// Tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; without
// them New and Loopback skip the test.
package testnet
