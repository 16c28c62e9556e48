package topiclog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The log start offset (StartOffset) is logical, as Kafka's log start
// offset: retention moves it record by record, reads below it are out of
// range, and segment files are deleted later, once every record in them is
// below it. It lives in the file "start" of the topic directory as one
// fixed-size record, overwritten in place with one pwrite per change:
//
//	4 bytes magic "LSSO" | u64 big-endian start | u32 big-endian CRC-32C of the 12 bytes before
//
// A record that fails its checksum (a write torn by a power cut) or a
// missing file means "no start beyond the first segment's base": the log
// then shows a few more old records than retention allows, never fewer.
const (
	startFile     = "start"
	startFileSize = 16
	startMagic    = "LSSO"
)

func encodeStart(start uint64) []byte {
	b := make([]byte, 0, startFileSize)
	b = append(b, startMagic...)
	b = binary.BigEndian.AppendUint64(b, start)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseStart decodes a start file. Anything but a whole, intact record is
// an error wrapping ErrCorrupt.
func parseStart(b []byte) (uint64, error) {
	if len(b) != startFileSize || string(b[:4]) != startMagic ||
		crc32.Checksum(b[:12], castagnoli) != binary.BigEndian.Uint32(b[12:]) {
		return 0, fmt.Errorf("%w: start offset file of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b[4:]), nil
}

// loadStart reads the persisted start offset at open; ok is false when
// there is none to trust.
func (l *Log) loadStart() (start uint64, ok bool, err error) {
	f, err := os.Open(filepath.Join(l.dir, startFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, startFileSize+1))
	if err != nil {
		return 0, false, err
	}
	start, err = parseStart(b)
	if err != nil {
		l.logger.Warn().Err(err).Msg("ignoring unreadable start offset file; the log starts at its first segment")
		return 0, false, nil
	}
	return start, true, nil
}

// persistStart writes l.start to the start file if it changed since the
// last write. Caller holds wmu. Under FlushNever the write sits in the page
// cache (it survives kill -9); syncLocked fsyncs it with the records
// otherwise. A failed write is logged and retried at the next change: it
// can only make the log show more old records after a restart.
func (l *Log) persistStart() {
	l.mu.RLock()
	start := l.start
	l.mu.RUnlock()
	if start == l.startSaved {
		return
	}
	err := l.writeStart(start)
	if err != nil && !l.startFailing {
		// Once per failing spell: this runs at every append.
		l.logger.Error().Err(err).Uint64("start", start).Msg("cannot write the start offset; retrying at every change")
	}
	l.startFailing = err != nil
}

func (l *Log) writeStart(start uint64) error {
	if l.startF == nil {
		f, err := l.opts.FS.OpenFile(filepath.Join(l.dir, startFile), os.O_RDWR|os.O_CREATE, filePerm)
		if err != nil {
			return err
		}
		l.startF = f
	}
	if _, err := l.startF.WriteAt(encodeStart(start), 0); err != nil {
		return err
	}
	l.startSaved, l.startDirty = start, true
	return nil
}

// removeStart forgets the persisted start (a reset: the log starts at its
// only segment's base). Caller holds wmu.
func (l *Log) removeStart() error {
	if l.startF != nil {
		l.startF.Close()
		l.startF = nil
	}
	l.startSaved, l.startDirty = 0, false
	if err := l.opts.FS.Remove(filepath.Join(l.dir, startFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
