// Package e2e runs the real logstream binary as separate processes inside
// the test network's namespaces: discovery across hosts, crashes, restarts.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/testnet"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds the logstream binary and its symlinks once per test run.
// LOGSTREAM_E2E_BINARY names a prebuilt binary to test instead (a release
// build, or a snapshot while the tree does not compile); it is copied so
// `install` puts the symlinks in the temporary directory, not beside it.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "logstream-e2e-bin-")
		if buildErr != nil {
			return
		}
		exe := filepath.Join(binDir, "logstream")
		if pre := os.Getenv("LOGSTREAM_E2E_BINARY"); pre != "" {
			buildErr = copyExecutable(pre, exe)
		} else if out, err := exec.Command("go", "build", "-o", exe, "../../cmd/logstream").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		if buildErr != nil {
			return
		}
		out, err := exec.Command(exe, "install").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("logstream install: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func copyExecutable(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("LOGSTREAM_E2E_BINARY: %w", err)
	}
	return os.WriteFile(to, b, 0o755)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is one LogStream process in a host namespace.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	stdin  io.WriteCloser
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Len is the number of bytes written so far.
func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs role (a symlink name such as "producer", or "logstream") in
// host h with extra environment variables. The process is killed by PID when
// the test ends if it is still running.
func start(t testing.TB, h *testnet.Host, env []string, role string, args ...string) *proc {
	t.Helper()
	cmd := h.Command(context.Background(), filepath.Join(binary(t), role), args...)
	cmd.Env = append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{t: t, name: role, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
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
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", p.name, cmd.Process.Pid, tail(p.stderr.String(), 40))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit within d and returns its exit error.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s; stderr:\n%s", p.name, d, tail(p.stderr.String(), 30))
		return nil
	}
}

// waitLog waits until the process's stderr contains s.
func (p *proc) waitLog(s string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before logging %q; stderr:\n%s", p.name, p.err, s, tail(p.stderr.String(), 30))
		case <-time.After(20 * time.Millisecond): // polling a log file, bounded below
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %q within %s; stderr:\n%s", p.name, s, d, tail(p.stderr.String(), 30))
		}
	}
}

type jsonRecord struct {
	Type     string `json:"type"`
	Offset   uint64 `json:"offset"`
	Producer string `json:"producer"`
	Seq      uint64 `json:"seq"`
	Payload  string `json:"payload"`
}

// records parses a consumer's -format json output.
func records(t testing.TB, out string) []jsonRecord {
	t.Helper()
	var recs []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var r jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("consumer printed a line that is not JSON: %q", sc.Text())
		}
		if r.Type == "record" {
			recs = append(recs, r)
		}
	}
	return recs
}

// checkSequence checks recs are offsets 0..n-1 carrying payloads
// prefix1..prefixN in order: nothing lost, nothing twice.
func checkSequence(t testing.TB, recs []jsonRecord, n int, payload func(i int) string) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("consumer got %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Offset != uint64(i) || r.Payload != payload(i+1) {
			t.Fatalf("record %d: offset %d payload %q, want offset %d payload %q", i, r.Offset, r.Payload, i, payload(i+1))
		}
	}
}
