package topiclog

import (
	"errors"
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/durable"
	"github.com/logstream/logstream/pkg/record"
)

// faultyFS fails file writes or fsyncs on demand.
type faultyFS struct {
	durable.FS
	failWrite, failSync atomic.Bool
}

type faultyFile struct {
	durable.File
	fs *faultyFS
}

var errInjected = errors.New("injected I/O error")

func (f *faultyFS) OpenFile(name string, flag int, perm fs.FileMode) (durable.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return faultyFile{file, f}, nil
}

func (f faultyFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fs.failWrite.Load() {
		return 0, errInjected
	}
	return f.File.WriteAt(b, off)
}

func (f faultyFile) Sync() error {
	if f.fs.failSync.Load() {
		return errInjected
	}
	return f.File.Sync()
}

// The cluster protocol tells a write that failed cleanly (refuse the batch,
// retry later) from one of uncertain outcome (stop the broker) by
// ErrUnusable; see cluster.ErrStorageUncertain.
func TestWriteFailuresSayWhetherTheLogIsUnusable(t *testing.T) {
	ffs := &faultyFS{FS: durable.OS}
	s, err := OpenStore(t.TempDir(), Options{Logger: zerolog.Nop(), FS: ffs, Flush: FlushEveryBatch})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Topic("t")
	if err != nil {
		t.Fatal(err)
	}
	rec := func() []record.Record { return []record.Record{{ProducerID: "p", Seq: 1, Payload: []byte("x")}} }
	if _, err := l.Append(rec()); err != nil {
		t.Fatal(err)
	}
	ffs.failWrite.Store(true)
	if _, err := l.Append(rec()); err == nil || errors.Is(err, ErrUnusable) {
		t.Fatalf("a write that failed and was undone: %v; want a plain error", err)
	}
	ffs.failWrite.Store(false)
	if _, err := l.Append(rec()); err != nil {
		t.Fatalf("after a clean failure the log must take writes again: %v", err)
	}
	ffs.failSync.Store(true)
	if _, err := l.Append(rec()); !errors.Is(err, ErrUnusable) {
		t.Fatalf("a failed fsync: %v; want ErrUnusable", err)
	}
	ffs.failSync.Store(false)
	if _, err := l.Append(rec()); !errors.Is(err, ErrUnusable) {
		t.Fatalf("after a failed fsync the log must refuse writes: %v", err)
	}
}
