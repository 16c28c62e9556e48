package ctl

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/statusreport"
)

// realRig runs real child processes: the test binary re-executed as a
// harmless helper that opens no socket. No broker, producer or consumer is
// ever started.
func realRig(t *testing.T) *testRig {
	t.Helper()
	if !haveProc() {
		t.Skip("needs /proc")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOGSTREAM_CTL_TEST_HELPER", "child")
	t.Setenv("LOGSTREAM_CTL_TEST_IGNORE_TERM", "0")
	// Race-enabled helpers would otherwise sleep a second at exit.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	r := newRig(t)
	r.env.launcher = execLauncher{}
	r.env.childExe = defaultEnv(nil, nil).childExe // reads LOGSTREAM_CTL_CHILD via os.Getenv
	t.Setenv("LOGSTREAM_CTL_CHILD", exe)
	r.env.now = time.Now
	t.Cleanup(func() {
		// Whatever happened, leave no helper behind.
		st, _, _ := r.env.store()
		m, _ := st.Load()
		_ = runStop(r.env, stopOptions{All: true, Grace: 100 * time.Millisecond})
		for _, en := range m {
			_ = signalOurs(en.PID, en.StartTicks, syscall.SIGKILL)
		}
	})
	return r
}

// waitFile waits until path contains want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never contained %q; has:\n%s", path, want, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func loadEntries(t *testing.T, r *testRig) map[string]stateEntry {
	t.Helper()
	st, _, err := r.env.store()
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRealBackgroundLifecycle(t *testing.T) {
	r := realRig(t)
	p := mustPaths(t, r)
	if code := r.run("start", "broker", "--name", "node1", "--address", "127.0.0.1:18001", "-bg"); code != 0 {
		t.Fatalf("start: exit %d: %s", code, r.err.String())
	}
	for _, w := range []string{"started broker node1", "PID:", "127.0.0.1:18001", p.LogFile("node1")} {
		if !strings.Contains(r.out.String(), w) {
			t.Errorf("start output lacks %q:\n%s", w, r.out.String())
		}
	}
	waitFile(t, p.LogFile("node1"), "helper ready")
	en := loadEntries(t, r)["node1"]
	if !isOurs(en.PID, en.StartTicks) || en.StartTicks == 0 {
		t.Fatalf("entry %+v not alive/identified", en)
	}
	if b, _ := os.ReadFile(p.PidFile("node1")); strings.TrimSpace(string(b)) == "" {
		t.Fatal("no pid file")
	}
	log, _ := os.ReadFile(p.LogFile("node1"))
	for _, w := range []string{"helper started: broker", "env NODE_NAME=node1", "env NODE_ADDRESS=127.0.0.1:18001", "=== logstreamctl: starting broker node1"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}

	r.out.Reset()
	if code := r.run("list"); code != 0 || !strings.Contains(r.out.String(), "running") || !strings.Contains(r.out.String(), "ADDRESS/LEADER") {
		t.Fatalf("list: %d\n%s", code, r.out.String())
	}
	r.out.Reset()
	if code := r.run("list", "--json"); code != 0 {
		t.Fatal("list --json failed")
	}
	var rows []statusreport.Process
	if err := json.Unmarshal([]byte(r.out.String()), &rows); err != nil || len(rows) != 1 || rows[0].Status != "running" || rows[0].PID != en.PID {
		t.Fatalf("list --json: %v %+v", err, rows)
	}

	r.out.Reset()
	if code := r.run("logs", "node1"); code != 0 || !strings.Contains(r.out.String(), "helper line 3") {
		t.Fatalf("logs: %d %q %q", code, r.out.String(), r.err.String())
	}
	r.out.Reset()
	if code := r.run("logs", "node1", "--lines", "1"); code != 0 || r.out.String() != "helper ready\n" {
		t.Fatalf("logs --lines 1: %q", r.out.String())
	}

	r.err.Reset()
	if code := r.run("start", "broker", "--name", "node1", "--address", "127.0.0.1:18002", "-bg"); code != 1 || !strings.Contains(r.err.String(), "already running") {
		t.Fatalf("second start: exit %d, %q", code, r.err.String())
	}
	r.err.Reset()
	if code := r.run("start", "broker", "--name", "node9", "--address", "18001", "-bg"); code != 1 || !strings.Contains(r.err.String(), "already used by broker node1") {
		t.Fatalf("port clash: exit %d, %q", code, r.err.String())
	}

	r.out.Reset()
	if code := r.run("election", "node1"); code != 0 || !strings.Contains(r.out.String(), "SIGUSR1") {
		t.Fatalf("election: %d %q %q", code, r.out.String(), r.err.String())
	}
	waitFile(t, p.LogFile("node1"), "helper got SIGUSR1")

	// logs --follow prints what is appended, and stops when cancelled.
	follow := newSyncBuffer()
	fe := *r.env
	fe.stdout = follow
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, &fe, []string{"logstreamctl", "logs", "node1", "--follow", "--lines", "1"})
	}()
	// The tail shows the first election; only then is follow watching.
	follow.waitFor(t, "helper got SIGUSR1", 10*time.Second)
	if code := r.run("election", "node1"); code != 0 {
		t.Fatal("second election")
	}
	follow.waitCount(t, "helper got SIGUSR1", 2, 10*time.Second)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("follow exit %d", code)
	}

	r.out.Reset()
	if code := r.run("stop", "node1"); code != 0 || !strings.Contains(r.out.String(), "stopped node1") {
		t.Fatalf("stop: %d %q %q", code, r.out.String(), r.err.String())
	}
	if isOurs(en.PID, en.StartTicks) {
		t.Fatal("still running after stop")
	}
	waitFile(t, p.LogFile("node1"), "helper stopping on terminated")
	if len(loadEntries(t, r)) != 0 || exists(p.PidFile("node1")) {
		t.Fatal("entry or pid file left after stop")
	}
	r.out.Reset()
	if code := r.run("list"); code != 0 || !strings.Contains(r.out.String(), "no managed processes") {
		t.Fatalf("list after stop: %q", r.out.String())
	}
	// The log outlives the process.
	r.out.Reset()
	if code := r.run("logs", "node1", "--lines", "1"); code != 0 || !strings.Contains(r.out.String(), "helper stopping") {
		t.Fatalf("logs after stop: %q %q", r.out.String(), r.err.String())
	}
	r.err.Reset()
	if code := r.run("stop", "node1"); code != 1 || !strings.Contains(r.err.String(), "no process named node1") {
		t.Fatalf("stop unknown: %d %q", code, r.err.String())
	}
}

func TestRealStopAllStaleAndStubborn(t *testing.T) {
	r := realRig(t)
	p := mustPaths(t, r)
	for _, args := range [][]string{
		{"start", "broker", "--name", "b1", "--address", "127.0.0.1:18011", "-bg"},
		{"start", "producer", "--name", "p1", "--rate", "5", "--leader", "127.0.0.1:18011", "-bg"},
		{"start", "consumer", "--name", "c1", "-bg"},
	} {
		if code := r.run(args...); code != 0 {
			t.Fatalf("%q: %d %s", args, code, r.err.String())
		}
		waitFile(t, p.LogFile(args[3]), "helper ready")
	}
	t.Setenv("LOGSTREAM_CTL_TEST_IGNORE_TERM", "1")
	if code := r.run("start", "consumer", "--name", "stubborn", "-bg"); code != 0 {
		t.Fatalf("stubborn: %s", r.err.String())
	}
	waitFile(t, p.LogFile("stubborn"), "helper ready")

	// A process that died behind our back is shown as stopped and its
	// entry is cleaned up by stop.
	m := loadEntries(t, r)
	c1 := m["c1"]
	if err := signalOurs(c1.PID, c1.StartTicks, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(c1, 10*time.Second) {
		t.Fatal("c1 did not die")
	}
	r.out.Reset()
	r.run("list", "--json")
	var rows []statusreport.Process
	_ = json.Unmarshal([]byte(r.out.String()), &rows)
	status := map[string]string{}
	for _, row := range rows {
		status[row.Name] = row.Status
	}
	if status["c1"] != "stopped" || status["b1"] != "running" || status["stubborn"] != "running" {
		t.Fatalf("statuses %v", status)
	}

	// One that ignores SIGTERM is killed after the grace period.
	r.out.Reset()
	if code := r.run("stop", "stubborn", "--grace", "100ms"); code != 0 || !strings.Contains(r.out.String(), "killed stubborn") {
		t.Fatalf("stop stubborn: %d %q %q", code, r.out.String(), r.err.String())
	}
	// Well-behaved ones stop on SIGTERM (the grace is only an upper bound).
	r.out.Reset()
	if code := r.run("stop", "--all", "--grace", "30s"); code != 0 {
		t.Fatalf("stop --all: %d %q", code, r.err.String())
	}
	out := r.out.String()
	for _, w := range []string{"stopped b1", "stopped p1", "c1 was not running"} {
		if !strings.Contains(out, w) {
			t.Errorf("stop --all output lacks %q:\n%s", w, out)
		}
	}
	for name, en := range m {
		if isOurs(en.PID, en.StartTicks) {
			t.Errorf("%s still running", name)
		}
	}
	if left := loadEntries(t, r); len(left) != 0 {
		t.Errorf("entries left: %v", left)
	}
}

func TestRealForeground(t *testing.T) {
	r := realRig(t)
	done := make(chan int, 1)
	go func() { done <- r.run("start", "consumer", "--name", "fg1", "--topic", "t9") }()
	r.out.waitFor(t, "helper ready", 10*time.Second)
	if !strings.Contains(r.out.String(), "-topic=t9") {
		t.Errorf("child args: %s", r.out.String())
	}
	// The child may print before logstreamctl has recorded it.
	var en stateEntry
	for deadline := time.Now().Add(10 * time.Second); en.PID == 0 && time.Now().Before(deadline); {
		if en = loadEntries(t, r)["fg1"]; en.PID == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if en.Background || !isOurs(en.PID, en.StartTicks) {
		t.Fatalf("foreground entry %+v", en)
	}
	r.err.Reset()
	if code := r.run("logs", "fg1"); code != 1 || !strings.Contains(r.err.String(), "foreground") {
		t.Errorf("logs of foreground: %d %q", code, r.err.String())
	}
	// stop from "another terminal": the foreground run ends with the
	// child's status and forgets the entry.
	if code := r.run("stop", "fg1"); code != 0 {
		t.Fatalf("stop: %s", r.err.String())
	}
	if code := <-done; code != 0 {
		t.Fatalf("foreground exit %d", code)
	}
	if len(loadEntries(t, r)) != 0 {
		t.Fatal("entry left")
	}
}

// A binary built from the manual's per-role line is named logstreamctl; the
// children it starts must still run as the role they are given, so they are
// called by the plain binary's name whatever ours is (the test binary is
// named ctl.test here).
func TestRealChildIsCalledLogstream(t *testing.T) {
	r := realRig(t)
	p := mustPaths(t, r)
	if code := r.run("start", "producer", "--name", "prod1", "--rate", "1", "-bg"); code != 0 {
		t.Fatalf("start: exit %d: %s", code, r.err.String())
	}
	waitFile(t, p.LogFile("prod1"), "helper ready")
	b, _ := os.ReadFile(p.LogFile("prod1"))
	if !strings.Contains(string(b), "helper argv0: logstream\n") {
		t.Fatalf("child not called logstream:\n%s", b)
	}
}

// A daemon that fails at once (here the helper exits 2 after a one-line
// error, as a producer given a bad topic does) is reported as a failed
// start with its error line and status, not as "started".
func TestRealBackgroundStartFailure(t *testing.T) {
	r := realRig(t)
	t.Setenv("LOGSTREAM_CTL_TEST_FAIL", "1")
	code := r.run("start", "producer", "--name", "prod1", "--topic", "a b", "--rate", "1", "-bg")
	if code != 2 {
		t.Fatalf("start: exit %d, want the child's 2; stdout %q stderr %q", code, r.out.String(), r.err.String())
	}
	msg := r.err.String()
	if !strings.Contains(msg, "producer prod1 exited at start (exit status 2)") || !strings.Contains(msg, `invalid value "a b" for -topic`) {
		t.Fatalf("stderr does not report the failure: %q", msg)
	}
	if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Fatalf("want one line, got %q", msg)
	}
	if strings.Contains(r.out.String(), "started producer") {
		t.Fatalf("a failed start was reported as started: %q", r.out.String())
	}
}

// A daemon that neither says it runs nor exits within the wait (a broker
// still reading large logs) is reported started, not failed; one that runs
// is reported as soon as it says so.
func TestRealBackgroundStartSilent(t *testing.T) {
	r := realRig(t)
	r.env.startWait = 200 * time.Millisecond
	t.Setenv("LOGSTREAM_CTL_TEST_SILENT", "1")
	if code := r.run("start", "producer", "--name", "prod1", "--rate", "1", "-bg"); code != 0 || !strings.Contains(r.out.String(), "started producer prod1") {
		t.Fatalf("start: exit %d; stdout %q stderr %q", code, r.out.String(), r.err.String())
	}
	en := loadEntries(t, r)["prod1"]
	if !isOurs(en.PID, en.StartTicks) {
		t.Fatalf("the silent daemon is not running: %+v", en)
	}
}
