// Package proctest runs the real logstream binary as processes inside the
// test network's namespaces, for the end-to-end and chaos tests: it builds
// the binary once, starts roles with captured output, and stops whatever is
// still running by PID when the test ends.
package proctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/testnet"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binary returns a directory holding a freshly built logstream binary and
// its symlinks, built once per test process. LOGSTREAM_E2E_BINARY names a
// prebuilt binary to test instead (it is copied, so install puts the
// symlinks in the temporary directory). Call Cleanup from TestMain.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "logstream-test-bin-")
		if buildErr != nil {
			return
		}
		exe := filepath.Join(binDir, "logstream")
		if pre := os.Getenv("LOGSTREAM_E2E_BINARY"); pre != "" {
			buildErr = copyExecutable(pre, exe)
		} else if out, err := exec.Command("go", "build", "-o", exe, filepath.Join(repoRoot(), "cmd", "logstream")).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		if buildErr != nil {
			return
		}
		if out, err := exec.Command(exe, "install").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("logstream install: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// repoRoot is the module root, found from this source file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..") // pkg/internal/proctest → the module root
}

func copyExecutable(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("LOGSTREAM_E2E_BINARY: %w", err)
	}
	return os.WriteFile(to, b, 0o755)
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Buffer is a bytes.Buffer safe for a writer and concurrent readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Len is the number of bytes written so far.
func (l *Buffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// LastLine is the last line holding s ("" if none), found in place: a
// poll of a long-running broker's log copies that line, not the log.
func (l *Buffer) LastLine(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	i := bytes.LastIndex(b, []byte(s))
	if i < 0 {
		return ""
	}
	line := b[bytes.LastIndexByte(b[:i], '\n')+1:]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return string(line)
}

// Proc is one LogStream process in a host namespace.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	Stdout *Buffer
	Stderr *Buffer
	Stdin  io.WriteCloser

	t    testing.TB
	done chan struct{}
	err  error
}

// Options tune Start.
type Options struct {
	// Stdout, if set, also receives the process's standard output as it
	// comes (for tests that follow a consumer live).
	Stdout io.Writer
}

// Start runs role (a symlink name such as "producer", or "logstream") in host
// h with extra environment variables, logging JSON at info level. The process
// is killed by PID when the test ends if it is still running, and its stderr
// is printed if the test failed.
func Start(t testing.TB, h *testnet.Host, env []string, role string, args ...string) *Proc {
	return StartWith(t, h, Options{}, env, role, args...)
}

// StartWith is Start with options.
func StartWith(t testing.TB, h *testnet.Host, o Options, env []string, role string, args ...string) *Proc {
	t.Helper()
	cmd := h.Command(context.Background(), filepath.Join(Binary(t), role), args...)
	cmd.Env = append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	p := &Proc{t: t, Name: role, Cmd: cmd, Stdout: &Buffer{}, Stderr: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	if o.Stdout != nil {
		cmd.Stdout = io.MultiWriter(p.Stdout, o.Stdout)
	}
	var err error
	if p.Stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Signal(syscall.SIGCONT) // a paused process cannot die of SIGKILL until it runs
		p.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", p.Name, cmd.Process.Pid, Tail(p.Stderr.String(), 40))
		}
	})
	return p
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Signal sends sig unless the process has exited.
func (p *Proc) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.Cmd.Process.Signal(sig)
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Wait waits for the process to exit within d and returns its exit error;
// it fails the test if the process is still running then.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s; stderr:\n%s", p.Name, d, Tail(p.Stderr.String(), 30))
		return nil
	}
}

// WaitLog waits until the process's stderr contains s.
func (p *Proc) WaitLog(s string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.Stderr.String(), s) {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before logging %q; stderr:\n%s", p.Name, p.err, s, Tail(p.Stderr.String(), 30))
		case <-time.After(20 * time.Millisecond): // polling a log, bounded below
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s; stderr:\n%s", p.Name, s, d, Tail(p.Stderr.String(), 30))
		}
	}
}

// clusterStateMark starts the message of a broker's ClusterState log line.
const clusterStateMark = `"message":"ClusterState`

// ViewSize is the member count of the last ClusterState line the broker
// logged (0 if none yet); see LastViewSize.
func (p *Proc) ViewSize() int { return LastViewSize(p.Stderr.LastLine(clusterStateMark)) }

// LastViewSize is the member count of the last ClusterState line of a
// broker's JSON log (0 if there is none yet).
func LastViewSize(log string) int {
	i := strings.LastIndex(log, clusterStateMark)
	if i < 0 {
		return 0
	}
	line := log[strings.LastIndex(log[:i], "\n")+1:]
	if j := strings.Index(line, "\n"); j >= 0 {
		line = line[:j]
	}
	k := strings.Index(line, `"members":"`)
	if k < 0 {
		return 0
	}
	list := line[k+len(`"members":"`):]
	list = list[:strings.Index(list, `"`)]
	if list == "" {
		return 0
	}
	return strings.Count(list, ",") + 1
}
