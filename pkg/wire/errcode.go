package wire

import (
	"strconv"
	"strings"
)

// ErrCode is the status a broker reports in ProduceAck and Error.
//
// ErrCode implements error, so a code can travel as a Go error and be matched
// with errors.Is(err, wire.ErrNotLeader). That also lets ErrTooLarge be both
// the protocol code 7 and the framing error for an oversized frame: the
// framing errors wrap it, so errors.Is(err, wire.ErrTooLarge) works for both.
type ErrCode uint16

// Status codes.
const (
	ErrNone             ErrCode = 0
	ErrNotOwner         ErrCode = 1
	ErrNotLeader        ErrCode = 2
	ErrNoQuorum         ErrCode = 3
	ErrBadRequest       ErrCode = 4
	ErrUnknownTopic     ErrCode = 5
	ErrOffsetOutOfRange ErrCode = 6
	ErrTooLarge         ErrCode = 7
	ErrBusy             ErrCode = 8
	ErrInternal         ErrCode = 9
	ErrUnauthorized     ErrCode = 10
	// ErrLimit refuses a connection because a bound the operator set
	// (MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP) is reached. Clients end on
	// it rather than retry: the slots are held by other clients for as
	// long as they run. (A client older than the code backs off on it.)
	ErrLimit ErrCode = 11
)

var errCodeNames = [...]string{
	ErrNone:             "NONE",
	ErrNotOwner:         "NOT_OWNER",
	ErrNotLeader:        "NOT_LEADER",
	ErrNoQuorum:         "NO_QUORUM",
	ErrBadRequest:       "BAD_REQUEST",
	ErrUnknownTopic:     "UNKNOWN_TOPIC",
	ErrOffsetOutOfRange: "OFFSET_OUT_OF_RANGE",
	ErrTooLarge:         "TOO_LARGE",
	ErrBusy:             "BUSY",
	ErrInternal:         "INTERNAL",
	ErrUnauthorized:     "UNAUTHORIZED",
	ErrLimit:            "LIMIT",
}

// String returns the code's name, e.g. "NOT_LEADER", or "CODE(n)".
func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// Error returns the code in words, e.g. "not leader".
func (c ErrCode) Error() string {
	return strings.ReplaceAll(strings.ToLower(c.String()), "_", " ")
}

// Err returns nil for ErrNone and the code itself otherwise, so a received
// code can be returned as an error without a special case.
func (c ErrCode) Err() error {
	if c == ErrNone {
		return nil
	}
	return c
}
