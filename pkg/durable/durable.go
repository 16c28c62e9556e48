// Package durable is the seam between LogStream's storage and the file
// system for the operations whose order decides what a power cut leaves:
// creating, writing, truncating, fsyncing, renaming and removing files, and
// fsyncing directories. Production code uses OS; tests use
// durabletest.CrashFS, which keeps only what was fsynced, to check what a
// power cut at any point would leave.
package durable

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is the part of *os.File the storage uses.
type File interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Stat() (fs.FileInfo, error)
	Close() error
	Name() string
}

// FS makes the changes to files and directories that must reach the disk
// in order. Reads of whole small files and directory listings stay with
// package os: they change nothing.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	Rename(oldpath, newpath string) error
	// SyncDir makes the creations, renames and removals of entries of dir
	// survive a power cut.
	SyncDir(dir string) error
}

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return f, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if e := d.Close(); err == nil && !errors.Is(e, fs.ErrClosed) {
		err = e
	}
	return err
}

// WriteFile replaces path with b so that a power cut leaves either the old
// file (or none) or the whole new one: write path+".tmp", fsync it, rename
// it over path, fsync the directory. The temp file is removed on failure.
func WriteFile(fsys FS, path string, b []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		fsys.Remove(tmp)
	}
	return err
}
