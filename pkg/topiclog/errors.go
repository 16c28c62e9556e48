package topiclog

import (
	"errors"
	"fmt"
)

var (
	// ErrOffsetOutOfRange is matched (errors.Is) by every *OffsetError.
	ErrOffsetOutOfRange = errors.New("topiclog: offset out of range")
	// ErrClosed is returned by operations on a closed Log or Store.
	ErrClosed = errors.New("topiclog: closed")
	// ErrCorrupt marks stored bytes that fail their checksum or do not
	// decode. Reads cut damaged records out instead of returning it (see
	// Damaged); TruncateTo into a cut-out range and unreadable marker files
	// return it.
	ErrCorrupt = errors.New("topiclog: corrupt entry")
	// ErrNotContiguous is returned by AppendAt for offsets that do not
	// continue the log.
	ErrNotContiguous = errors.New("topiclog: offsets not contiguous with log end")
)

// OffsetError reports an offset outside the retained log [Start, Next].
// Consumers use Start to skip ahead after retention removed their position.
type OffsetError struct {
	Offset, Start, Next uint64
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("topiclog: offset %d out of range: log holds [%d, %d)", e.Offset, e.Start, e.Next)
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// ErrUnusable marks a write whose outcome on disk is uncertain: it failed
// and could not be undone, or an fsync failed (the kernel may have dropped
// the dirty pages). The log refuses every write until it is reopened. Any
// other error from a write means it failed cleanly: the log is as it was
// before the call.
var ErrUnusable = errors.New("topiclog: log unusable after a failed write")

// setFailed makes the log refuse writes from now on and returns the error
// that says so.
func (l *Log) setFailed(err error) error {
	l.failed = err
	return l.unusable()
}

func (l *Log) unusable() error { return fmt.Errorf("%w: %w", ErrUnusable, l.failed) }
