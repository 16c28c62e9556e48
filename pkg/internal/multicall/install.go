package multicall

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Install creates, in dir, a symlink to the binary at exe for every linked
// role and writes one line per link to w. An existing symlink is replaced; an
// existing regular file is left alone and reported, so an install never
// destroys a user's file.
func (r *Registry) Install(exe, dir string, w io.Writer) error {
	exe, err := filepath.Abs(exe)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	target := exe
	// A link beside the binary points to it by its base name, so moving the
	// directory keeps the links working.
	if absDir, err := filepath.Abs(dir); err == nil && absDir == filepath.Dir(exe) {
		target = filepath.Base(exe)
	}
	var errs []error
	for _, name := range r.Links() {
		link := filepath.Join(dir, name)
		if fi, err := os.Lstat(link); err == nil {
			if fi.Mode()&fs.ModeSymlink == 0 {
				errs = append(errs, fmt.Errorf("%s exists and is not a symlink; left alone", link))
				continue
			}
			if err := os.Remove(link); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := os.Symlink(target, link); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(w, "%s -> %s\n", link, target)
	}
	return errors.Join(errs...)
}
