// Package netaddr holds LogStream's view of the host's network: which
// interfaces exist, which IPv4 address a node advertises, which subnet
// broadcast addresses discovery sends to, and how the manual's address flags
// are parsed.
//
// Everything except Interfaces is pure, so the rules are table-tested without
// touching the machine's network.
package netaddr
