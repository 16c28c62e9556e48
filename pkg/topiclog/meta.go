package topiclog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/logstream/logstream/pkg/durable"
)

const (
	metaFile    = "meta"
	metaTmpFile = metaFile + ".tmp" // durable.WriteFile's temp file
)

// Meta returns a copy of the topic's metadata blob (nil if never set).
func (l *Log) Meta() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.meta == nil {
		return nil
	}
	return append([]byte(nil), l.meta...)
}

// SetMeta replaces the metadata blob (at most MaxMetaBytes) atomically: it is
// written to a temp file, fsynced and renamed over the old one, so after a
// crash Meta is either the old or the new blob, never a mix.
func (l *Log) SetMeta(b []byte) error {
	if len(b) > MaxMetaBytes {
		return fmt.Errorf("topic %s: meta of %d bytes exceeds %d", l.name, len(b), MaxMetaBytes)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	if err := durable.WriteFile(l.opts.FS, filepath.Join(l.dir, metaFile), b, filePerm); err != nil {
		return fmt.Errorf("topic %s: set meta: %w", l.name, err)
	}
	l.mu.Lock()
	l.meta = append([]byte(nil), b...)
	l.mu.Unlock()
	return nil
}

// loadMeta reads the meta file at open; a missing file means no meta.
func (l *Log) loadMeta() error {
	f, err := os.Open(filepath.Join(l.dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxMetaBytes+1))
	if err != nil {
		return err
	}
	if len(b) > MaxMetaBytes {
		return fmt.Errorf("meta file larger than %d bytes", MaxMetaBytes)
	}
	if len(b) > 0 {
		l.meta = b
	}
	return nil
}
