package cluster

import (
	"errors"
	"fmt"
)

// ErrStorageUncertain marks a failed write whose outcome on disk is unknown
// (a write that could not be undone, a failed fsync). A Log wraps it; any
// other error from a write means the write failed cleanly and left the log
// as it was.
var ErrStorageUncertain = errors.New("cluster: storage write of uncertain outcome")

// writeKind says what rests on a write.
type writeKind int

const (
	// dataWrite: records (an owner's append, a follower's replica, a
	// repair). A clean failure is answered to whoever asked — the producer
	// retries, the follower fetches again — as on a full disk.
	dataWrite writeKind = iota
	// promiseWrite: the node's own state (view, promise), a topic's epoch
	// history, a truncation or reset decided by recovery. The protocol's
	// promises rest on them: any failure stops the node.
	promiseWrite
)

// wrote is the storage rule, in the one place it is decided: it reports
// whether a write succeeded and stops the node (failStop) when the
// protocol can no longer answer as if it had — never "log and carry on".
func (n *Node) wrote(kind writeKind, err error, what string) bool {
	switch {
	case err == nil:
		return true
	case kind == promiseWrite || errors.Is(err, ErrStorageUncertain):
		n.failStop(fmt.Errorf("%s: %w", what, err))
	default:
		n.log.Warn().Err(err).Msgf("%s failed cleanly; refused, to be retried", what)
	}
	return false
}
