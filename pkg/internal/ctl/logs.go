package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// logsOptions are the parsed options of `logs`.
type logsOptions struct {
	Name   string
	Lines  int
	Follow bool
}

// maxTailBytes bounds how far back `logs` reads to find --lines lines, so a
// log without newlines cannot make it read gigabytes.
const maxTailBytes = 16 << 20

func logsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "show the log of a background process",
		UsageText: "logstreamctl logs NAME [--lines N] [--follow]",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: 50, Usage: "number of lines to show"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines (Ctrl-C to stop)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("logs: give exactly one process NAME (see logstreamctl list)")
			}
			opts := logsOptions{Name: c.Args().First(), Lines: c.Int("lines"), Follow: c.Bool("follow")}
			if err := validName(opts.Name); err != nil {
				return err
			}
			if opts.Lines < 0 {
				return usageErrorf("invalid value %d for --lines: want a number >= 0", opts.Lines)
			}
			if h, err := e.intercepted(opts); h {
				return err
			}
			return runLogs(c.Context, e, opts)
		},
	}
}

func runLogs(ctx context.Context, e *env, opts logsOptions) error {
	st, paths, err := e.store()
	if err != nil {
		return err
	}
	m, err := st.Load()
	if err != nil {
		return err
	}
	path := paths.LogFile(opts.Name)
	if en, ok := m[opts.Name]; ok {
		if en.LogFile != "" {
			path = en.LogFile
		} else if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s runs in the foreground: its output goes to the terminal it was started from", opts.Name)
		}
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, ok := m[opts.Name]; !ok {
			return fmt.Errorf("no process named %s; see logstreamctl list", opts.Name)
		}
		return fmt.Errorf("no log file for %s yet (%s)", opts.Name, path)
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	start, err := tailOffset(f, opts.Lines)
	if err != nil {
		return err
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(e.stdout, f)
	if err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return followFile(ctx, path, f, start+n, e.stdout, e.poll)
}

// tailOffset returns where the last n lines of f begin.
func tailOffset(f *os.File, n int) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if n == 0 {
		return size, nil
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	pos := size
	newlines := 0
	first := true
	for pos > 0 && size-pos < maxTailBytes {
		sz := int64(chunk)
		if pos < sz {
			sz = pos
		}
		pos -= sz
		b := buf[:sz]
		if _, err := f.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if first && len(b) > 0 && b[len(b)-1] == '\n' {
			// The final newline ends the last line; it does not start one.
			b = b[:len(b)-1]
		}
		first = false
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				newlines++
				if newlines == n {
					return pos + int64(i) + 1, nil
				}
			}
		}
	}
	return pos, nil
}

// followFile prints what is appended to path until ctx ends. It survives
// truncation (size shrinks: read again from 0) and rotation (the name
// points at a new inode: finish the old file, then open the new one).
func followFile(ctx context.Context, path string, f *os.File, off int64, w io.Writer, poll time.Duration) error {
	if poll <= 0 || poll > time.Second {
		poll = 250 * time.Millisecond
	}
	cur, err := f.Stat()
	if err != nil {
		return err
	}
	orig := f
	defer func() {
		if f != orig { // the caller closes the file it opened
			_ = f.Close()
		}
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if fi, err := f.Stat(); err == nil && fi.Size() < off {
			off = 0 // truncated in place
		}
		n, err := copyFrom(f, off, w)
		off += n
		if err != nil {
			return err
		}
		if pfi, err := os.Stat(path); err == nil && !os.SameFile(cur, pfi) {
			nf, err := os.Open(path)
			if err != nil {
				continue // not there yet; keep the old file and retry
			}
			if f != orig {
				_ = f.Close()
			}
			f, cur, off = nf, pfi, 0
			n, err := copyFrom(f, off, w)
			off += n
			if err != nil {
				return err
			}
		}
	}
}

func copyFrom(f *os.File, off int64, w io.Writer) (int64, error) {
	return io.Copy(w, io.NewSectionReader(f, off, 1<<62))
}
