package ctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/logstream/logstream/pkg/internal/cliutil"
)

// childSpec is everything needed to run one managed process.
type childSpec struct {
	Name string
	Type string   // broker, producer or consumer
	Path string   // executable
	Args []string // arguments after the executable, starting with the role
	Env  []string // KEY=VALUE added to (and overriding) the inherited environment

	// Background makes a daemon: own session, stdin /dev/null, output
	// appended to LogPath. Otherwise stdio are the ones below.
	Background bool
	LogPath    string
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
}

// childProcess is a launched process.
type childProcess interface {
	PID() int
	// StartTicks is the child's start time from /proc (0 if unknown); it is
	// read before the child can be reaped, so it is really this child's.
	StartTicks() uint64
	Signal(os.Signal) error
	// Wait waits for a foreground child and returns its exit status
	// (128+signal when killed). Background children are reaped on their own.
	Wait() (int, error)
}

// processLauncher starts children. The real one uses os/exec; tests use a fake
// that records specs.
type processLauncher interface {
	Launch(childSpec) (childProcess, error)
}

// execLauncher launches real processes.
type execLauncher struct{}

// childArgv0 is the name every child is called by. The binary picks its role
// from argv[0] before it looks at the role argument, so a child must not be
// called by our own name: built from the manual's per-role line (`go build -o
// logstreamctl cmd/logstreamctl/main.go`) the executable is named
// logstreamctl, and `logstreamctl broker` would be an unknown ctl command.
const childArgv0 = "logstream"

type execChild struct {
	cmd   *exec.Cmd
	ticks uint64
}

func (c *execChild) PID() int                 { return c.cmd.Process.Pid }
func (c *execChild) StartTicks() uint64       { return c.ticks }
func (c *execChild) Signal(s os.Signal) error { return c.cmd.Process.Signal(s) }
func (c *execChild) Wait() (int, error) {
	err := c.cmd.Wait()
	return exitCode(c.cmd.ProcessState, err)
}

// exitCode turns a finished process into a shell-style status.
func exitCode(ps *os.ProcessState, err error) (int, error) {
	if ps == nil {
		return 1, err
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return ps.ExitCode(), err
	}
	return ps.ExitCode(), nil
}

// Launch starts spec. For a background child it detaches it from our
// session (Setsid), so closing the terminal or logstreamctl exiting does not
// touch it, and reaps it in a goroutine in case we outlive it.
func (execLauncher) Launch(spec childSpec) (childProcess, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Args[0] = childArgv0
	cmd.Env = append(os.Environ(), spec.Env...)
	if !spec.Background {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = spec.Stdin, spec.Stdout, spec.Stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.Name, err)
		}
		return &execChild{cmd: cmd, ticks: startTicks(cmd.Process.Pid)}, nil
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	logf, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	defer logf.Close() // the child has its own copy
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The readiness pipe: the child writes cliutil.ReadyWord on it once it
	// runs, and its end closes when the child exits.
	ready, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyW.Close() // the child has its own copy
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", cliutil.ReadyEnv, 3)) // ExtraFiles[0] is fd 3
	if err := cmd.Start(); err != nil {
		ready.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	c := &bgChild{pid: cmd.Process.Pid, ticks: startTicks(cmd.Process.Pid), proc: cmd.Process,
		ready: ready, exited: make(chan struct{})}
	go func() {
		code, _ := exitCode(cmd.ProcessState, cmd.Wait())
		c.code = code
		close(c.exited)
	}()
	return c, nil
}

type bgChild struct {
	pid   int
	ticks uint64
	proc  *os.Process
	ready *os.File // read end of the readiness pipe
	// exited is closed once the child has been reaped; code is its status.
	exited chan struct{}
	code   int
}

// Started waits at most d for the child to say it runs. It returns
// running=false and the exit status when the child exited first; a child
// that says nothing within d counts as running (still starting up).
func (c *bgChild) Started(d time.Duration) (running bool, code int) {
	defer c.ready.Close()
	deadline := time.Now().Add(d)
	_ = c.ready.SetReadDeadline(deadline)
	buf := make([]byte, len(cliutil.ReadyWord))
	n, err := io.ReadFull(c.ready, buf)
	switch {
	case err == nil && string(buf[:n]) == cliutil.ReadyWord:
		return true, 0
	case errors.Is(err, os.ErrDeadlineExceeded):
		return true, 0
	}
	// The pipe closed without the word: the child is gone (or going).
	select {
	case <-c.exited:
		return false, c.code
	case <-time.After(time.Until(deadline)):
		return true, 0
	}
}

func (c *bgChild) PID() int                 { return c.pid }
func (c *bgChild) StartTicks() uint64       { return c.ticks }
func (c *bgChild) Signal(s os.Signal) error { return c.proc.Signal(s) }
func (c *bgChild) Wait() (int, error)       { return 0, errors.New("background child: not waited for") }
