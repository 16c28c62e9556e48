// Package topiclog is LogStream's storage: one append-only, segmented,
// checksummed log per topic, with record-count retention and crash recovery.
//
// A Store is a directory with one subdirectory per topic. A topic directory
// holds segments named by their first offset (00000000000000000000.log),
// each with a sparse offset/time index (.idx) that is rebuilt from the log
// when missing or inconsistent, and an optional "meta" blob. Records are
// read back with pread from the page cache; memory is bounded by the sparse
// indexes and per-call buffers, not by the size of the log.
package topiclog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store is a directory of topic logs.
type Store struct {
	dir  string
	opts Options

	mu     sync.Mutex
	topics map[string]*Log
	closed bool

	stop chan struct{} // closed by Close; stops the flusher
	wg   sync.WaitGroup
}

// OpenStore opens dir (creating it if needed) and opens and recovers every
// topic directory in it. Entries that are not valid topic names are skipped
// with a warning.
func OpenStore(dir string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("topiclog: store directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("topiclog: store directory: %w", err)
	}
	s := &Store{dir: dir, opts: opts, topics: map[string]*Log{}, stop: make(chan struct{})}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if err := ValidTopicName(e.Name()); err != nil {
			opts.Logger.Warn().Str("dir", e.Name()).Msg("skipping directory that is not a topic")
			continue
		}
		l, err := openLog(filepath.Join(dir, e.Name()), e.Name(), opts)
		if err != nil {
			s.closeLogs()
			return nil, err
		}
		s.topics[e.Name()] = l
	}
	if opts.Flush == FlushInterval {
		s.wg.Add(1)
		go s.flusher()
	}
	return s, nil
}

// Topic returns the log of name, creating it on first use.
func (s *Store) Topic(name string) (*Log, error) {
	if err := ValidTopicName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if l, ok := s.topics[name]; ok {
		return l, nil
	}
	l, err := openLog(filepath.Join(s.dir, name), name, s.opts)
	if err != nil {
		return nil, err
	}
	if err := s.opts.FS.SyncDir(s.dir); err != nil {
		l.Close()
		return nil, err
	}
	s.topics[name] = l
	return l, nil
}

// Lookup returns the log of an existing topic.
func (s *Store) Lookup(name string) (*Log, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.topics[name]
	return l, ok && !s.closed
}

// Topics returns the topic names, sorted.
func (s *Store) Topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.topics))
	for n := range s.topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Damaged returns the damage reports of every topic (Log.Damaged), by
// topic name, and how many damaged ranges were found in all.
func (s *Store) Damaged() (reports []Damage, count uint64) {
	s.mu.Lock()
	logs := make([]*Log, 0, len(s.topics))
	for _, l := range s.topics {
		logs = append(logs, l)
	}
	s.mu.Unlock()
	slices.SortFunc(logs, func(a, b *Log) int { return strings.Compare(a.name, b.name) })
	for _, l := range logs {
		reports = append(reports, l.Damaged()...)
		count += l.DamageCount()
	}
	return reports, count
}

// Close stops the flusher and closes every log. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	return s.closeLogs()
}

func (s *Store) closeLogs() error {
	var errs []error
	for _, l := range s.topics {
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flusher fsyncs logs with unsynced appends every FlushEvery (FlushInterval).
func (s *Store) flusher() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		logs := make([]*Log, 0, len(s.topics))
		for _, l := range s.topics {
			logs = append(logs, l)
		}
		s.mu.Unlock()
		for _, l := range logs {
			if !l.dirty.Load() {
				continue
			}
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) {
				l.logger.Error().Err(err).Msg("periodic fsync failed")
			}
		}
	}
}
