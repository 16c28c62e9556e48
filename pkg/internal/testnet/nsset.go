package testnet

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` pins named namespaces.
const netnsDir = "/var/run/netns"

// killWait bounds how long deletion waits for killed processes to leave a
// namespace; it is a ceiling, not a sleep: the poll ends as soon as they go.
const killWait = 5 * time.Second

// nsSet is the namespaces one Network or Loopback host owns. Each name is
// registered before it is created, so an interrupt at any moment still
// finds everything to delete.
type nsSet struct {
	mu    sync.Mutex
	names []string

	once sync.Once
	err  error
}

// add registers name and creates the namespace.
func (s *nsSet) add(name string) error {
	s.mu.Lock()
	s.names = append(s.names, name)
	s.mu.Unlock()
	registerName(name)
	_, err := ip("netns", "add", name)
	return err
}

// close kills what still runs inside the namespaces and deletes them, newest
// first so host namespaces go before their switch. Safe to call many times
// and from several goroutines; all callers get the first result.
func (s *nsSet) close() error {
	s.once.Do(func() {
		s.mu.Lock()
		names := append([]string(nil), s.names...)
		s.mu.Unlock()
		var errs []error
		for i := len(names) - 1; i >= 0; i-- {
			if err := deleteNamespace(names[i]); err != nil {
				errs = append(errs, err)
			}
			unregisterName(names[i])
		}
		unregisterSet(s)
		s.err = errors.Join(errs...)
	})
	return s.err
}

// deleteNamespace kills every process inside name (by PID) and deletes it.
// A namespace that is already gone is not an error.
func deleteNamespace(name string) error {
	if _, err := os.Stat(netnsDir + "/" + name); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := killInside(name); err != nil {
		return err
	}
	if _, err := ip("netns", "delete", name); err != nil {
		if _, serr := os.Stat(netnsDir + "/" + name); errors.Is(serr, os.ErrNotExist) {
			return nil // a concurrent cleaner won the race
		}
		return err
	}
	return nil
}

// killInside sends SIGKILL to each process in the namespace, never to this
// process, and waits (bounded) until none is left, so the namespace and its
// links die with the delete instead of lingering.
func killInside(name string) error {
	deadline := time.Now().Add(killWait)
	for {
		out, err := ip("netns", "pids", name)
		if err != nil {
			return err
		}
		var left []int
		for _, pid := range parsePIDs(out) {
			if pid == os.Getpid() {
				continue
			}
			left = append(left, pid)
			_ = unix.Kill(pid, unix.SIGKILL) // it may already have exited
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testnet: processes %v still in namespace %s after SIGKILL", left, name)
		}
		time.Sleep(10 * time.Millisecond) // poll interval while the kernel reaps them
	}
}

// cleanStale deletes namespaces left by earlier runs of this package whose
// owning process is gone. Namespaces of live processes, and of this process
// while still registered, are left alone.
func cleanStale(logf func(string, ...any)) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no namespaces at all yet
	}
	for _, e := range entries {
		name := e.Name()
		pid, ok := ownerPID(name)
		if !ok {
			continue
		}
		if pid == os.Getpid() {
			if isRegistered(name) {
				continue
			}
		} else if pidAlive(pid) {
			continue
		}
		if err := deleteNamespace(name); err != nil {
			logf("testnet: removing leftover namespace %s: %v", name, err)
			continue
		}
		logf("testnet: removed leftover namespace %s of dead process %d", name, pid)
	}
}

// pidAlive reports whether a process with this PID exists.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
