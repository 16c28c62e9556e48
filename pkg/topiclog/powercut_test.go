package topiclog

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/durable/durabletest"
	"github.com/logstream/logstream/pkg/record"
	"github.com/rs/zerolog"
)

// The cluster protocol cuts a follower's log back to the agreed prefix
// (TruncateTo, or Reset when it skips ahead) and then writes the new epoch
// history with SetMeta. If a power cut could undo the cut but keep the
// history, the broker would come back claiming the new epoch's log while
// holding the old epoch's records at those offsets. These tests cut the
// power after every file operation (durabletest.CrashFS keeps only what was
// fsynced) and check that never happens, under every flush policy.

const (
	cutOldRecords = 60 // records of the old epoch, durable before the test
	cutMetaOld    = "old history"
	cutMetaNew    = "new history"
)

// newEpochRecord is the record the new epoch writes at offset i: it differs
// from the old epoch's genRecord(i) in its producer.
func newEpochRecord(i uint64) record.Record {
	r := genRecord(i)
	r.ProducerID, r.Offset = "new", i
	return r
}

// cutScenario is one recovery step: opts adjusted, the step itself, and the
// first offset whose old record the new history disowns.
type cutScenario struct {
	name  string
	opts  func(*Options)
	step  func(t *testing.T, l *Log)
	cutAt uint64
}

func cutScenarios() []cutScenario {
	adopt := func(cut uint64) func(t *testing.T, l *Log) {
		return func(t *testing.T, l *Log) {
			if err := l.TruncateTo(cut); err != nil {
				t.Fatal(err)
			}
			appendNewEpoch(t, l)
		}
	}
	return []cutScenario{
		{name: "truncate", step: adopt(10), cutAt: 10},
		{name: "truncate-within-last-segment", step: adopt(cutOldRecords - 2), cutAt: cutOldRecords - 2},
		{name: "truncate-below-start", opts: func(o *Options) { o.MaxRecords = 20 }, step: adopt(10), cutAt: 10},
		{name: "reset", step: func(t *testing.T, l *Log) {
			if err := l.Reset(100); err != nil {
				t.Fatal(err)
			}
			appendNewEpoch(t, l)
		}, cutAt: 0},
	}
}

// appendNewEpoch writes the new history, then the new epoch's records, as
// the cluster protocol does after a cut.
func appendNewEpoch(t *testing.T, l *Log) {
	t.Helper()
	if err := l.SetMeta([]byte(cutMetaNew)); err != nil {
		t.Fatal(err)
	}
	next := l.NextOffset()
	recs := []record.Record{newEpochRecord(next), newEpochRecord(next + 1), newEpochRecord(next + 2)}
	if err := l.AppendAt(recs); err != nil {
		t.Fatal(err)
	}
}

func TestPowerCutAfterTruncation(t *testing.T) {
	for _, pol := range []FlushPolicy{FlushNever, FlushEveryBatch, FlushInterval} {
		for _, sc := range cutScenarios() {
			t.Run(pol.String()+"/"+sc.name, func(t *testing.T) {
				opts := Options{Logger: zerolog.Nop(), SegmentBytes: 1024, Flush: pol, FlushEvery: time.Hour}
				if sc.opts != nil {
					sc.opts(&opts)
				}
				snaps, ops := runPowerCut(t, opts, sc.step)
				for i, snap := range snaps {
					if msg := checkAfterPowerCut(t, snap, opts, sc.cutAt); msg != "" {
						t.Fatalf("power cut after operation %d (%s): %s\noperations:\n%s", i, ops[i], msg, joinOps(ops[:i+1]))
					}
				}
			})
		}
	}
}

// runPowerCut writes the old epoch durably (a plain store, closed and taken
// as on disk), reopens it through a CrashFS and runs step, recording after
// every file operation what a power cut would leave. The flusher never runs
// (FlushEvery is an hour), so the operations are the same at every run.
func runPowerCut(t *testing.T, opts Options, step func(*testing.T, *Log)) (snaps []map[string][]byte, ops []string) {
	t.Helper()
	root := t.TempDir()
	s := openStore(t, root, opts)
	l := topic(t, s, "p")
	appendN(t, l, cutOldRecords, 7)
	if err := l.SetMeta([]byte(cutMetaOld)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	cfs, err := durabletest.New(root)
	if err != nil {
		t.Fatal(err)
	}
	opts.FS = cfs
	s = openStore(t, root, opts)
	defer mustClose(t, s)
	l = topic(t, s, "p")
	cfs.OnOp = func(op string) {
		snaps = append(snaps, cfs.Snapshot())
		ops = append(ops, op)
	}
	step(t, l)
	cfs.OnOp = nil
	return snaps, ops
}

// checkAfterPowerCut opens what a power cut left and returns what is wrong
// with it: every record must be the old epoch's or the new one's, and once
// the new history is on disk no old record at or past the cut may be.
func checkAfterPowerCut(t *testing.T, snap map[string][]byte, opts Options, cutAt uint64) string {
	t.Helper()
	dir := t.TempDir()
	if err := durabletest.Restore(dir, snap); err != nil {
		t.Fatal(err)
	}
	opts.FS = nil
	s, err := OpenStore(dir, opts)
	if err != nil {
		return "reopen: " + err.Error()
	}
	defer mustClose(t, s)
	l, ok := s.Lookup("p")
	if !ok {
		return "topic lost"
	}
	meta := string(l.Meta())
	if meta != cutMetaOld && meta != cutMetaNew {
		return "meta " + meta
	}
	for off, next := l.StartOffset(), l.NextOffset(); off < next; {
		recs, err := l.Read(off, 0, 0)
		if err != nil || len(recs) == 0 {
			return "read: " + errString(err)
		}
		for _, r := range recs {
			old := genRecord(r.Offset)
			isOld := r.ProducerID == old.ProducerID && string(r.Payload) == string(old.Payload)
			isNew := r.ProducerID == "new" && string(r.Payload) == string(old.Payload)
			switch {
			case !isOld && !isNew:
				return "garbage record at " + itoa(r.Offset)
			case isOld && r.Offset >= cutAt && meta == cutMetaNew:
				return "the new history is on disk but the old epoch's record " + itoa(r.Offset) +
					" past the cut came back (the truncation was not durable before SetMeta)"
			case isNew && meta != cutMetaNew:
				return "a new epoch's record without the new history"
			}
			off = r.Offset + 1
		}
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "no records"
	}
	return err.Error()
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func joinOps(ops []string) string { return "  " + strings.Join(ops, "\n  ") }
