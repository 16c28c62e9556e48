package cluster

import "strings"

// OffsetsTopic is the reserved topic that holds consumer groups' positions
// (pkg/groups). Unlike StateTopic it is an ordinary replicated topic: its
// records are proposed, replicated, committed by a majority, de-duplicated by
// producer id and sequence, carried through STATE_EXCHANGE and recovered like
// any client topic. Only its name is reserved: clients cannot pick it for
// their own records (the broker checks what is written to it).
const OffsetsTopic = "__offsets"

// localTopic reports whether name is a reserved topic the node keeps for
// itself and never replicates (StateTopic and any other "__" name except
// OffsetsTopic).
func localTopic(name string) bool {
	return strings.HasPrefix(name, "__") && name != OffsetsTopic
}
