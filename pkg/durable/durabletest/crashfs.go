// Package durabletest provides CrashFS, a durable.FS for tests that tracks
// what a power cut would leave of the files it changes.
package durabletest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/logstream/logstream/pkg/durable"
)

// CrashFS passes every operation through to the real files under its root
// and keeps, beside them, the state a power cut would leave under the most
// pessimistic (and allowed) disk: a file's contents are what they were at
// its last fsync, a directory's entries what they were at its last
// directory fsync; every write, truncation, creation, rename and removal
// made since is lost. Directories themselves are taken as durable.
//
// After each change OnOp (if set) is called with a description of it, so a
// test can take a Snapshot at every crash point.
type CrashFS struct {
	root string
	OnOp func(op string)

	mu      sync.Mutex
	names   map[string]*inode // the live directory entries
	durable map[string]*inode // the entries as of each directory's last fsync
	ops     []string
}

type inode struct {
	synced []byte // contents at the last fsync
}

// New returns a CrashFS over root, taking every file already under it as
// durable.
func New(root string) (*CrashFS, error) {
	c := &CrashFS{root: filepath.Clean(root), names: map[string]*inode{}, durable: map[string]*inode{}}
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		in := c.newInode()
		in.synced = b
		c.names[p], c.durable[p] = in, in
		return nil
	})
	return c, err
}

func (c *CrashFS) newInode() *inode { return &inode{} }

// change applies one change to the model under mu, logs the operation fn
// describes, then tells OnOp (outside mu: it may take a Snapshot).
func (c *CrashFS) change(fn func() string) {
	c.mu.Lock()
	op := fn()
	c.ops = append(c.ops, op)
	hook := c.OnOp
	c.mu.Unlock()
	if hook != nil {
		hook(op)
	}
}

func (c *CrashFS) rel(p string) string {
	r, err := filepath.Rel(c.root, p)
	if err != nil {
		return p
	}
	return r
}

// Ops returns the operations so far, in order ("sync topic/meta.tmp", …).
func (c *CrashFS) Ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ops)
}

// Snapshot returns what a power cut now would leave: the path of each file
// (relative to the root) and its contents.
func (c *CrashFS) Snapshot() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]byte, len(c.durable))
	for p, in := range c.durable {
		out[c.rel(p)] = slices.Clone(in.synced)
	}
	return out
}

// Restore writes a snapshot into dir (which must be empty), as a machine
// would find its disk after the power cut.
func Restore(dir string, snap map[string][]byte) error {
	for p, b := range snap {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// OpenFile opens name read-write whatever flag asks (Sync reads the file
// back to record its contents).
func (c *CrashFS) OpenFile(name string, flag int, perm fs.FileMode) (durable.File, error) {
	f, err := os.OpenFile(name, flag&^(os.O_WRONLY|os.O_RDONLY)|os.O_RDWR, perm)
	if err != nil {
		return nil, err
	}
	name = filepath.Clean(name)
	var in *inode
	c.change(func() string {
		var ok bool
		in, ok = c.names[name]
		if !ok {
			// Created now: nothing of it, not even its name, is durable.
			in = c.newInode()
			c.names[name] = in
			return "create " + c.rel(name)
		}
		if flag&os.O_TRUNC != 0 {
			return "truncate " + c.rel(name) + " 0"
		}
		return "open " + c.rel(name)
	})
	return &crashFile{File: f, c: c, in: in}, nil
}

func (c *CrashFS) Remove(name string) error {
	if err := os.Remove(name); err != nil {
		return err
	}
	name = filepath.Clean(name)
	c.change(func() string {
		delete(c.names, name)
		return "remove " + c.rel(name)
	})
	return nil
}

func (c *CrashFS) Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	c.change(func() string {
		if in, ok := c.names[oldpath]; ok {
			c.names[newpath] = in
			delete(c.names, oldpath)
		}
		return "rename " + c.rel(oldpath) + " " + c.rel(newpath)
	})
	return nil
}

// SyncDir makes the live entries of dir its durable entries.
func (c *CrashFS) SyncDir(dir string) error {
	if err := durable.OS.SyncDir(dir); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	c.change(func() string {
		for p := range c.durable {
			if filepath.Dir(p) == dir {
				delete(c.durable, p)
			}
		}
		for p, in := range c.names {
			if filepath.Dir(p) == dir {
				c.durable[p] = in
			}
		}
		return "syncdir " + c.rel(dir)
	})
	return nil
}

// crashFile tracks the changes made through one open file.
type crashFile struct {
	*os.File
	c  *CrashFS
	in *inode
}

func (f *crashFile) WriteAt(b []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(b, off)
	f.c.change(func() string { return fmt.Sprintf("write %s %d+%d", f.c.rel(f.Name()), off, n) })
	return n, err
}

func (f *crashFile) Truncate(size int64) error {
	err := f.File.Truncate(size)
	f.c.change(func() string { return fmt.Sprintf("truncate %s %d", f.c.rel(f.Name()), size) })
	return err
}

// Sync makes the file's current contents its durable contents, whatever
// name it has now.
func (f *crashFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	st, err := f.File.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, st.Size())
	if _, err := f.File.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return err
	}
	f.c.change(func() string {
		f.in.synced = b
		return "sync " + f.c.rel(f.Name())
	})
	return nil
}

// String lists the operations, one a line, for test failure messages.
func (c *CrashFS) String() string { return strings.Join(c.Ops(), "\n") }
