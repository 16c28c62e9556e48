// Package e2e runs the real logstream binary as separate processes inside
// the test network's namespaces: discovery across hosts, crashes, restarts.
package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/proctest"
	"github.com/logstream/logstream/pkg/internal/testnet"
)

// binary builds the logstream binary and its symlinks once per test run
// (proctest.Binary; LOGSTREAM_E2E_BINARY names a prebuilt one instead).
func binary(t testing.TB) string { return proctest.Binary(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Cleanup()
	os.Exit(code)
}

type lockedBuffer = proctest.Buffer

func tail(s string, n int) string { return proctest.Tail(s, n) }

// proc is a proctest.Proc with the short names these tests use.
type proc struct {
	*proctest.Proc
	name   string
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	stdin  io.WriteCloser
	done   <-chan struct{}
}

// start runs role (a symlink name such as "producer", or "logstream") in
// host h with extra environment variables; see proctest.Start.
func start(t testing.TB, h *testnet.Host, env []string, role string, args ...string) *proc {
	t.Helper()
	p := proctest.Start(t, h, env, role, args...)
	return &proc{Proc: p, name: p.Name, cmd: p.Cmd, stdout: p.Stdout, stderr: p.Stderr, stdin: p.Stdin, done: p.Done()}
}

func (p *proc) signal(sig syscall.Signal)         { p.Signal(sig) }
func (p *proc) wait(d time.Duration) error        { return p.Wait(d) }
func (p *proc) waitLog(s string, d time.Duration) { p.WaitLog(s, d) }

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
