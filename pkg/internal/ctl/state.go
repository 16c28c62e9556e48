package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/defaults"
)

// validName returns a usage error when name cannot be a process name.
func validName(name string) error {
	if name == "" {
		return usageErrorf("--name is required (a unique process name, e.g. --name node1)")
	}
	// Names become file names under pids/ and logs/ (defaults.NamePattern).
	if !defaults.ValidName(name) {
		return usageErrorf("invalid process name %q: %s", name, defaults.NameRule)
	}
	return nil
}

// statePaths are the files of the state directory (~/.logstream or $LOGSTREAM_HOME).
type statePaths struct {
	Home      string `json:"home"`
	PidDir    string `json:"pids"`
	LogDir    string `json:"logs"`
	DataDir   string `json:"data"`
	StateFile string `json:"state_file"`
	LockFile  string `json:"lock_file"`
}

// resolvePaths finds the state directory: LOGSTREAM_HOME if set, else
// ~/.logstream.
func resolvePaths(getenv func(string) string) (statePaths, error) {
	home := getenv("LOGSTREAM_HOME")
	if home == "" {
		h := getenv("HOME")
		if h == "" {
			var err error
			if h, err = os.UserHomeDir(); err != nil {
				return statePaths{}, fmt.Errorf("cannot find the home directory; set LOGSTREAM_HOME: %w", err)
			}
		}
		home = filepath.Join(h, ".logstream")
	}
	home, err := filepath.Abs(home)
	if err != nil {
		return statePaths{}, err
	}
	return statePaths{
		Home:      home,
		PidDir:    filepath.Join(home, "pids"),
		LogDir:    filepath.Join(home, "logs"),
		DataDir:   filepath.Join(home, "data"),
		StateFile: filepath.Join(home, "processes.json"),
		LockFile:  filepath.Join(home, "processes.lock"),
	}, nil
}

// PidFile and LogFile are the per-process files; name must be valid.
func (p statePaths) PidFile(name string) string { return filepath.Join(p.PidDir, name+".pid") }
func (p statePaths) LogFile(name string) string { return filepath.Join(p.LogDir, name+".log") }

// ensure creates the directories.
func (p statePaths) ensure() error {
	for _, d := range []string{p.Home, p.PidDir, p.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
	}
	return nil
}

// stateEntry is one managed process in processes.json.
type stateEntry struct {
	Name string `json:"name"`
	Type string `json:"type"` // broker, producer or consumer
	PID  int    `json:"pid"`
	// StartTicks is the process start time (field 22 of /proc/PID/stat) read
	// right after launch; together with PID it identifies our child, so a
	// PID reused by an unrelated process is never signalled.
	StartTicks uint64    `json:"start_ticks,omitempty"`
	Exe        string    `json:"exe"`
	Args       []string  `json:"args"`
	Env        []string  `json:"env,omitempty"` // only what logstreamctl added
	Address    string    `json:"address,omitempty"`
	Topic      string    `json:"topic,omitempty"`
	Background bool      `json:"background"`
	LogFile    string    `json:"log_file,omitempty"`
	StartedAt  time.Time `json:"started_at"`
}

type stateDoc struct {
	Version   int                   `json:"version"`
	Processes map[string]stateEntry `json:"processes"`
}

// stateStore is processes.json. Reads need no lock (the file is only ever
// replaced by rename); every change runs under an exclusive flock so
// concurrent logstreamctl runs never lose an entry.
type stateStore struct {
	paths statePaths
	// lockWait bounds how long a change waits for another logstreamctl.
	lockWait time.Duration
}

func newStore(p statePaths) *stateStore { return &stateStore{paths: p, lockWait: 10 * time.Second} }

// Load returns the entries; a missing file is an empty state.
func (s *stateStore) Load() (map[string]stateEntry, error) {
	b, err := os.ReadFile(s.paths.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]stateEntry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var doc stateDoc
	if len(b) > 0 {
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s is corrupt (%v); move it aside to start afresh", s.paths.StateFile, err)
		}
	}
	if doc.Processes == nil {
		doc.Processes = map[string]stateEntry{}
	}
	return doc.Processes, nil
}

// Sorted returns the entries ordered by name.
func sortedEntries(m map[string]stateEntry) []stateEntry {
	out := make([]stateEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Update runs fn on the current entries under the exclusive lock and writes
// the result atomically if fn succeeds. fn may do short work that must be
// atomic with the check (launching a child after "is the name free?").
func (s *stateStore) Update(fn func(m map[string]stateEntry) error) error {
	if err := s.paths.ensure(); err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return err
	}
	return s.write(m)
}

// lock takes the flock on processes.lock, retrying for lockWait. The lock
// fd is close-on-exec, so launched children never inherit it.
func (s *stateStore) lock() (func(), error) {
	f, err := os.OpenFile(s.paths.LockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	deadline := time.Now().Add(s.lockWait)
	backoff := time.Millisecond
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", s.paths.LockFile, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("%s is locked by another logstreamctl for more than %s", s.paths.LockFile, s.lockWait)
		}
		time.Sleep(backoff)
		if backoff < 50*time.Millisecond {
			backoff *= 2
		}
	}
}

// write replaces processes.json atomically: temp file, fsync, rename, fsync
// of the directory. A crash leaves either the old or the new file.
func (s *stateStore) write(m map[string]stateEntry) error {
	b, err := json.MarshalIndent(stateDoc{Version: 1, Processes: m}, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return writeFileAtomic(s.paths.StateFile, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(name)
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// removeIfSame deletes name's entry and pid file only if it still records
// pid: a foreground logstreamctl and a concurrent `stop` may both clean up,
// and neither may remove a newer process that reused the name.
func (s *stateStore) removeIfSame(name string, pid int) error {
	return s.Update(func(m map[string]stateEntry) error {
		if e, ok := m[name]; ok && e.PID == pid {
			delete(m, name)
			removePidFile(s.paths.PidFile(name), pid)
		}
		return nil
	})
}

// removePidFile removes a pid file only if it names pid (or is unreadable).
func removePidFile(path string, pid int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var got int
	if _, err := fmt.Sscanf(string(b), "%d", &got); err == nil && got != pid {
		return
	}
	_ = os.Remove(path)
}
