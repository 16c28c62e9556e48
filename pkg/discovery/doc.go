// Package discovery finds the cluster leader without configuration: a node
// broadcasts JOIN on the discovery port (8888) of every subnet it is on, and
// brokers answer with a unicast JOIN_RESPONSE naming the leader and the
// current view (the manual's "Cluster Discovery via UDP Broadcast").
//
// Responder is the broker side; Discover is the asking side, used by clients
// and by brokers at start. The decision over a set of answers (decide) is a
// pure function; sockets and clocks stay at the edges.
package discovery
