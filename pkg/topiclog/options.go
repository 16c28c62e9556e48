package topiclog

import (
	"fmt"
	"time"

	"github.com/logstream/logstream/pkg/durable"
	"github.com/rs/zerolog"
)

const (
	// DefaultSegmentBytes is the segment size used when Options.SegmentBytes is 0.
	DefaultSegmentBytes = 64 << 20
	// MaxSegmentBytes keeps every in-segment position below 2^32 (index
	// entries store positions as uint32) with room for one oversized entry.
	MaxSegmentBytes = 1 << 30
	// DefaultFlushEvery is the FlushInterval period used when Options.FlushEvery is 0.
	DefaultFlushEvery = time.Second
	// MaxEntryBytes bounds one encoded record, so a corrupt length field can
	// never make recovery or a read allocate more than this.
	MaxEntryBytes = 16 << 20
	// MaxMetaBytes bounds the per-topic metadata blob.
	MaxMetaBytes = 64 << 10
	// DefaultReadBytes is used by Read when maxBytes <= 0.
	DefaultReadBytes = 1 << 20

	// indexIntervalBytes is the spacing of sparse index entries: memory per
	// segment is 16 bytes per 4 KiB of log, and a lookup scans at most
	// about 4 KiB plus one record.
	indexIntervalBytes = 4096
	// maxWriteChunk bounds the reused append buffer: a bigger batch is
	// written in several syscalls rather than held whole in memory.
	maxWriteChunk = 8 << 20
	// keepBufBytes is the largest append buffer kept for the next batch.
	keepBufBytes = 1 << 20
)

// Options configures a Store. The zero value is usable: unlimited
// retention, 64 MiB segments, no fsync, no logging.
type Options struct {
	// MaxRecords keeps the newest MaxRecords per topic (and every record
	// at or above the retention floor); 0 means unlimited. The logical
	// start (StartOffset) moves record by record; a segment's files are
	// deleted once every record in them is below it.
	MaxRecords int64
	// SegmentBytes rolls to a new segment once the current one reaches
	// this size (default DefaultSegmentBytes, at most MaxSegmentBytes).
	SegmentBytes int64
	Flush        FlushPolicy
	// FlushEvery is the FlushInterval period (default DefaultFlushEvery).
	FlushEvery time.Duration
	Logger     zerolog.Logger
	// FS is where the log's files are changed (default durable.OS); a
	// test passes a durabletest.CrashFS to see what a power cut leaves.
	FS durable.FS
}

// withDefaults validates o and fills in defaults; errors name the option.
func (o Options) withDefaults() (Options, error) {
	if o.MaxRecords < 0 {
		return o, fmt.Errorf("topiclog: MaxRecords %d must be >= 0 (0 = unlimited)", o.MaxRecords)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes < 0 || o.SegmentBytes > MaxSegmentBytes {
		return o, fmt.Errorf("topiclog: SegmentBytes %d must be in [1, %d]", o.SegmentBytes, MaxSegmentBytes)
	}
	switch o.Flush {
	case FlushNever, FlushEveryBatch, FlushInterval:
	default:
		return o, fmt.Errorf("topiclog: unknown flush policy %d", int(o.Flush))
	}
	if o.FlushEvery < 0 {
		return o, fmt.Errorf("topiclog: FlushEvery %v must be >= 0", o.FlushEvery)
	}
	if o.FlushEvery == 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.FS == nil {
		o.FS = durable.OS
	}
	return o, nil
}
