package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName is the file in a data directory that a running broker holds
// an exclusive flock on.
const lockFileName = "LOCK"

// dirLock keeps a data directory to one broker. Two brokers on one directory
// (two `logstream` with the same NODE_NAME, or DATA_DIR) would append to the
// same logs and claim the same node id. The kernel drops a flock when its
// process dies, so a crash never leaves a stale lock behind (as LevelDB's
// and etcd's directory locks).
type dirLock struct{ f *os.File }

// lockDataDir takes dir's lock, or says which process holds it.
func lockDataDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			who := "another broker"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil {
				who = fmt.Sprintf("another broker (PID %d)", pid)
			}
			return nil, fmt.Errorf("data directory %s is in use by %s: give this broker its own --name (NODE_NAME) or --data-dir (DATA_DIR)", dir, who)
		}
		return nil, fmt.Errorf("locking data directory %s: %w", dir, err)
	}
	// The holder's PID, for the message above; the lock is the flock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// release gives the directory up.
func (l *dirLock) release() {
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	_ = l.f.Close()
}
