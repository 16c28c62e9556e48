package cluster

import (
	"fmt"
	"strconv"
)

// Brokers in log lines. An id is a random 64-bit number: nineteen digits
// tell an operator nothing, and as a JSON number above 2^53 jq rounds it.
// So a log line names a broker by what the operator knows it by — its
// address, and its own name for this node — followed by a short tail of its
// id (the last four digits of the full decimal id, which `logstreamctl
// status` shows), enough to tell a restarted broker with a new id from its
// old self at the same address. The protocol carries only addresses; a peer's
// NODE_NAME is not on the wire (see README, "Names in logs").

// IDString is an id as logs and JSON show it in full: a decimal string.
func IDString(id NodeID) string { return strconv.FormatUint(uint64(id), 10) }

// ShortID is the last four digits of an id: its tail in Display.
func ShortID(id NodeID) string {
	s := IDString(id)
	if len(s) > 4 {
		s = s[len(s)-4:]
	}
	return s
}

// Display names a broker for a log line: "name@addr#1234", "addr#1234"
// without a name, the full id without an address.
func Display(id NodeID, name, addr string) string {
	switch {
	case id == 0:
		return "none"
	case addr == "":
		return IDString(id)
	case name != "":
		return name + "@" + addr + "#" + ShortID(id)
	}
	return addr + "#" + ShortID(id)
}

// who names a broker this node knows of: itself by its name, a member of
// its view or a joiner by address.
func (n *Node) who(id NodeID) string {
	if id == n.id {
		return Display(id, n.cfg.Name, n.cfg.Addr)
	}
	if m, ok := n.view.Member(id); ok {
		return Display(id, "", m.Addr)
	}
	if m, ok := n.joiners[id]; ok {
		return Display(id, "", m.Addr)
	}
	return Display(id, "", "")
}

// whoAll names every member of v, in ring order.
func (n *Node) whoAll(v *View) []string {
	s := make([]string, len(v.Members))
	for i, m := range v.Members {
		if m.ID == n.id {
			s[i] = n.who(m.ID)
		} else {
			s[i] = Display(m.ID, "", m.Addr)
		}
	}
	return s
}

// replicateRole says in a REPLICATE line what this broker does for a topic.
func replicateRole(own bool, owner string) string {
	if own {
		return "owner; replicating to the followers"
	}
	return "following owner " + owner
}

// syncState says how a topic's log stands against the view's agreed end
// when the view is installed.
func syncState(have, agreed uint64) string {
	switch {
	case have == agreed:
		return fmt.Sprintf("in sync at offset %d", agreed)
	case have < agreed:
		return fmt.Sprintf("catching up from offset %d to %d", have, agreed)
	}
	return fmt.Sprintf("cutting back from offset %d to %d", have, agreed)
}
