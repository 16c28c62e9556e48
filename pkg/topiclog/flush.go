package topiclog

import "fmt"

// FlushPolicy says when appended bytes are forced to stable storage.
type FlushPolicy int

const (
	// FlushNever leaves write-back to the OS page cache: a process crash
	// loses nothing, a power cut may lose the newest records.
	FlushNever FlushPolicy = iota
	// FlushEveryBatch fsyncs before each Append returns.
	FlushEveryBatch
	// FlushInterval fsyncs at most every Options.FlushEvery, from a
	// goroutine owned by the Store (or whenever the caller calls Sync).
	FlushInterval
)

// ParseFlushPolicy maps the command-line words "none", "batch" and
// "interval" to a policy.
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch s {
	case "none":
		return FlushNever, nil
	case "batch":
		return FlushEveryBatch, nil
	case "interval":
		return FlushInterval, nil
	}
	return FlushNever, fmt.Errorf("flush policy %q: must be none, batch or interval", s)
}

// String returns the word ParseFlushPolicy accepts.
func (p FlushPolicy) String() string {
	switch p {
	case FlushNever:
		return "none"
	case FlushEveryBatch:
		return "batch"
	case FlushInterval:
		return "interval"
	}
	return fmt.Sprintf("FlushPolicy(%d)", int(p))
}
