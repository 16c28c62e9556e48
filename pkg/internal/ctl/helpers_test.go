package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// The test binary doubles as two helper programs, chosen by environment:
//   - LOGSTREAM_CTL_TEST_HELPER=child: a harmless stand-in for a broker,
//     producer or consumer. It opens no socket; it prints lines and waits
//     for SIGTERM/SIGINT (or, with LOGSTREAM_CTL_TEST_IGNORE_TERM=1, ignores
//     them so stop must SIGKILL it).
//   - LOGSTREAM_CTL_TEST_HELPER=state-writer: adds entries to processes.json
//     from another process, for the cross-process locking test.
func TestMain(m *testing.M) {
	switch os.Getenv("LOGSTREAM_CTL_TEST_HELPER") {
	case "child":
		os.Exit(helperChild())
	case "state-writer":
		os.Exit(helperStateWriter())
	}
	os.Exit(m.Run())
}

func helperChild() int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	fmt.Printf("helper started: %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("helper argv0: %s\n", filepath.Base(os.Args[0]))
	for _, k := range []string{"NODE_NAME", "NODE_ADDRESS", "DATA_DIR"} {
		if v := os.Getenv(k); v != "" {
			fmt.Printf("env %s=%s\n", k, v)
		}
	}
	for i := 1; i <= 3; i++ {
		fmt.Printf("helper line %d\n", i)
	}
	fmt.Println("helper ready")
	if os.Getenv("LOGSTREAM_CTL_TEST_FAIL") != "" {
		fmt.Println("helper: invalid value \"a b\" for -topic")
		return 2
	}
	if os.Getenv("LOGSTREAM_CTL_TEST_SILENT") == "" {
		cliutil.SignalReady()
	}
	ignore := os.Getenv("LOGSTREAM_CTL_TEST_IGNORE_TERM") == "1"
	// Bounded: a helper never outlives a broken test by more than a minute.
	deadline := time.After(time.Minute)
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				fmt.Println("helper got SIGUSR1: ELECTION")
				continue
			}
			if ignore {
				fmt.Printf("helper ignoring %v\n", s)
				continue
			}
			fmt.Printf("helper stopping on %v\n", s)
			return 0
		case <-deadline:
			fmt.Println("helper timed out")
			return 3
		}
	}
}

func helperStateWriter() int {
	p, err := resolvePaths(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st := newStore(p)
	prefix := os.Getenv("LOGSTREAM_CTL_TEST_PREFIX")
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if err := st.Update(func(m map[string]stateEntry) error {
			m[name] = stateEntry{Name: name, Type: "producer", PID: 4194304 + i}
			return nil
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// syncBuffer is a goroutine-safe buffer that can signal when it contains a
// string, so tests wait for output instead of sleeping.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{notify: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer contains want, or fails after d.
func (s *syncBuffer) waitFor(t *testing.T, want string, d time.Duration) {
	t.Helper()
	s.waitCount(t, want, 1, d)
}

// waitCount waits until want occurs n times in the buffer.
func (s *syncBuffer) waitCount(t *testing.T, want string, n int, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for strings.Count(s.String(), want) < n {
		select {
		case <-s.notify:
		case <-timeout:
			t.Fatalf("timed out waiting for %q; have:\n%s", want, s.String())
		}
	}
}

// fakeLauncher records specs and returns children with PIDs above the
// kernel's PID_MAX_LIMIT (2^22), which can never name a real process.
type fakeLauncher struct {
	mu    sync.Mutex
	specs []childSpec
}

type fakeChild struct{ pid int }

func (c fakeChild) PID() int               { return c.pid }
func (c fakeChild) StartTicks() uint64     { return 0 }
func (c fakeChild) Signal(os.Signal) error { return nil }
func (c fakeChild) Wait() (int, error)     { return 0, nil }

func (f *fakeLauncher) Launch(s childSpec) (childProcess, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, s)
	return fakeChild{pid: 1<<22 + len(f.specs)}, nil
}

func (f *fakeLauncher) last() childSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.specs) == 0 {
		return childSpec{}
	}
	return f.specs[len(f.specs)-1]
}

func (f *fakeLauncher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.specs)
}

// fakeQuerier answers from a table; unknown addresses are unreachable.
type fakeQuerier struct {
	meta      map[string]*statusreport.Cluster
	elections chan string
}

func (q fakeQuerier) Metadata(_ context.Context, addr string) (*statusreport.Cluster, error) {
	if m, ok := q.meta[addr]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("dial tcp %s: connection refused", addr)
}

func (q fakeQuerier) TriggerElection(_ context.Context, addr string) error {
	if q.elections != nil {
		q.elections <- addr
	}
	return nil
}

type testRig struct {
	env      *env
	home     string
	out, err *syncBuffer
	launcher *fakeLauncher
	vars     map[string]string
}

// newRig builds an env whose state lives in a temp dir and whose launcher,
// querier, clock and port probe are fakes.
func newRig(t *testing.T) *testRig {
	t.Helper()
	r := &testRig{home: t.TempDir(), out: newSyncBuffer(), err: newSyncBuffer(), launcher: &fakeLauncher{}}
	r.vars = map[string]string{"LOGSTREAM_HOME": r.home}
	e := defaultEnv(r.out, r.err)
	e.getenv = func(k string) string { return r.vars[k] }
	e.stdin = strings.NewReader("")
	e.launcher = r.launcher
	e.querier = fakeQuerier{}
	// Never broadcast from a unit test: nothing is found.
	e.discover = func(context.Context, uint16, *wire.Key) (string, error) { return "", errors.New("no broker answered") }
	e.portFree = func(int) bool { return true }
	e.localIP = func() string { return "192.0.2.1" }
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e.now = func() time.Time { return now }
	e.childExe = func() (string, error) { return "/opt/logstream/logstream", nil }
	e.poll = 5 * time.Millisecond
	r.env = e
	return r
}

// run runs one command line (without the program name) and returns the
// exit status.
func (r *testRig) run(args ...string) int {
	return runWith(context.Background(), r.env, append([]string{"logstreamctl"}, args...))
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
