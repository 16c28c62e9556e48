package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/internal/testnet"
)

// These tests run the manual's logstreamctl command lines, as written, with
// the real binary inside a test-network host: the daemons logstreamctl
// starts inherit the host's namespace, so their discovery broadcasts stay in
// the sealed network. Each test has its own HOME and state directory.

// ctlHost runs "./logstreamctl ..." lines from the bin directory inside h.
type ctlHost struct {
	t     *testing.T
	h     *testnet.Host
	home  string // HOME
	state string // the state directory (~/.logstream)
	env   []string
	dir   string // where ./logstreamctl is; "" for the built binary's directory
}

// ctlResult is what one logstreamctl run printed and its exit status.
type ctlResult struct {
	line           string
	stdout, stderr string
	code           int
}

func (r ctlResult) String() string {
	return fmt.Sprintf("%s\n  exit %d\n  stdout: %s\n  stderr: %s", r.line, r.code, r.stdout, r.stderr)
}

// newCtlHost gives h a fresh HOME. With setStateEnv LOGSTREAM_HOME points at
// $HOME/.logstream explicitly; without it logstreamctl must find the
// manual's ~/.logstream by itself. Every process recorded in the state
// directory is killed by PID when the test ends.
func newCtlHost(t *testing.T, h *testnet.Host, setStateEnv bool) *ctlHost {
	t.Helper()
	binary(t)
	home := t.TempDir()
	c := &ctlHost{t: t, h: h, home: home, state: filepath.Join(home, ".logstream")}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME", k == "LOGSTREAM_CTL_CHILD", strings.HasPrefix(k, "LOGSTREAM_"),
			strings.HasPrefix(k, "LOG_"), k == "NODE_ADDRESS", k == "NODE_NAME", k == "DATA_DIR":
			// Nothing from the developer's shell may steer the daemons.
			continue
		}
		c.env = append(c.env, kv)
	}
	c.env = append(c.env, "HOME="+home)
	if setStateEnv {
		c.env = append(c.env, "LOGSTREAM_HOME="+c.state)
	}
	t.Cleanup(c.killAll)
	return c
}

// run runs one manual line such as "./logstreamctl list". It is safe to call
// from several goroutines; it reports failures to start with t.Errorf.
func (c *ctlHost) run(line string) ctlResult {
	words := shellWords(c.t, line)
	if len(words) == 0 || words[0] != "./logstreamctl" {
		c.t.Errorf("not a manual logstreamctl line: %q", line)
		return ctlResult{line: line, code: -1}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := c.h.Command(ctx, words[0], words[1:]...)
	cmd.Dir = c.dir // the manual runs ./logstreamctl beside the binaries
	if cmd.Dir == "" {
		cmd.Dir = binary(c.t)
	}
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := ctlResult{line: line, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		c.t.Errorf("%s: %v (context: %v)\nstderr: %s", line, err, ctx.Err(), r.stderr)
		r.code = -1
	}
	return r
}

// shellWords splits a manual line as the shell would for the manual's
// lines: words separated by blanks, "double" or 'single' quotes grouping.
func shellWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Errorf("unbalanced quote in %q", line) // Errorf: run is called from goroutines
		return nil
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// ok runs line and fails the test unless it exits 0.
func (c *ctlHost) ok(line string) ctlResult {
	c.t.Helper()
	r := c.run(line)
	if r.code != 0 {
		c.t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// fails runs line and fails the test unless it exits non-zero with a
// one-line message on stderr containing want.
func (c *ctlHost) fails(line, want string) ctlResult {
	c.t.Helper()
	r := c.run(line)
	if r.code == 0 || r.code == -1 {
		c.t.Fatalf("want a non-zero exit:\n%s", r)
	}
	if !strings.Contains(r.stderr, want) {
		c.t.Fatalf("want %q on stderr:\n%s", want, r)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 {
		c.t.Errorf("want a one-line message, got %d lines:\n%s", n+1, r)
	}
	return r
}

// eventually reruns line until its stdout contains want, for at most d.
func (c *ctlHost) eventually(line, want string, d time.Duration) ctlResult {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := c.ok(line)
		if strings.Contains(r.stdout, want) {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%q never showed %q within %s; last run:\n%s", line, want, d, r)
		}
		time.Sleep(100 * time.Millisecond) // polling a daemon's progress, bounded above
	}
}

// listRow is one row of `logstreamctl list`.
type listRow struct {
	Name, Type, Status, Address, Topic string
	PID                                int // 0 when the table shows "-"
}

// list runs `./logstreamctl list` and parses its table.
func (c *ctlHost) list() map[string]listRow {
	c.t.Helper()
	r := c.ok("./logstreamctl list")
	rows := map[string]listRow{}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "NAME") {
		if strings.Contains(r.stdout, "no managed processes") {
			return rows
		}
		c.t.Fatalf("list printed no table:\n%s", r)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 {
			c.t.Fatalf("list row %q has %d columns, want 7:\n%s", l, len(f), r)
		}
		row := listRow{Name: f[0], Type: f[1], Status: f[2], Address: f[4], Topic: f[5]}
		if f[3] != "-" {
			pid, err := strconv.Atoi(f[3])
			if err != nil || pid <= 0 {
				c.t.Fatalf("list row %q: bad PID %q", l, f[3])
			}
			row.PID = pid
		}
		rows[row.Name] = row
	}
	return rows
}

// checkRunning checks that list shows exactly want (name -> type), all
// running with live PIDs, and returns the PIDs.
func (c *ctlHost) checkRunning(want map[string]string) map[string]int {
	c.t.Helper()
	rows := c.list()
	if len(rows) != len(want) {
		c.t.Fatalf("list shows %d processes %v, want %d %v", len(rows), rows, len(want), want)
	}
	pids := map[string]int{}
	seen := map[int]string{}
	for name, typ := range want {
		r, ok := rows[name]
		switch {
		case !ok:
			c.t.Fatalf("list does not show %s: %v", name, rows)
		case r.Type != typ || r.Status != "running" || r.PID == 0:
			c.t.Fatalf("list shows %+v, want a running %s with a PID", r, typ)
		case !alive(r.PID):
			c.t.Fatalf("list shows %s running as PID %d, but no such process runs", name, r.PID)
		case seen[r.PID] != "":
			c.t.Fatalf("%s and %s share PID %d", name, seen[r.PID], r.PID)
		}
		seen[r.PID] = name
		pids[name] = r.PID
	}
	return pids
}

// ctlStateDoc is the part of processes.json the tests look at.
type ctlStateDoc struct {
	Processes map[string]struct {
		PID        int    `json:"pid"`
		StartTicks uint64 `json:"start_ticks"`
	} `json:"processes"`
}

func (c *ctlHost) stateDoc() (ctlStateDoc, error) {
	var doc ctlStateDoc
	b, err := os.ReadFile(filepath.Join(c.state, "processes.json"))
	if err != nil {
		return doc, err
	}
	return doc, json.Unmarshal(b, &doc)
}

// killAll SIGKILLs, by PID, every process processes.json still records and
// that is still the process logstreamctl started (same start time), and
// waits for each to die. On failure it shows the daemons' logs first.
func (c *ctlHost) killAll() {
	if c.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(c.state, "logs", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			c.t.Logf("%s:\n%s", filepath.Base(l), tail(string(b), 15))
		}
	}
	doc, err := c.stateDoc()
	if err != nil {
		return
	}
	for name, p := range doc.Processes {
		st, ok := procStat(p.PID)
		if !ok || st.zombie || (p.StartTicks != 0 && st.ticks != p.StartTicks) {
			continue
		}
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
			c.t.Logf("cleanup: kill %s (PID %d): %v", name, p.PID, err)
			continue
		}
		if !waitDead(p.PID, 5*time.Second) {
			c.t.Errorf("cleanup: %s (PID %d) survived SIGKILL", name, p.PID)
		}
	}
}

type pstat struct {
	zombie bool
	ticks  uint64
}

// procStat reads a process's state and start time from /proc. A process
// that is gone reports false.
func procStat(pid int) (pstat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return pstat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return pstat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return pstat{}, false
	}
	ticks, _ := strconv.ParseUint(f[19], 10, 64)
	return pstat{zombie: f[0] == "Z" || f[0] == "X", ticks: ticks}, true
}

// alive reports whether pid runs. Daemons are reparented to PID 1 when
// logstreamctl exits and may linger as zombies there; a zombie is dead.
func alive(pid int) bool {
	st, ok := procStat(pid)
	return ok && !st.zombie
}

// waitDead waits up to d for pid to stop running.
func waitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling /proc, bounded above
	}
	return true
}

// waitBroker waits until the broker's log (through logstreamctl logs) shows
// it has formed its cluster.
func (c *ctlHost) waitBroker(name string) {
	c.t.Helper()
	c.eventually("./logstreamctl logs "+name, "ClusterState", 15*time.Second)
}

// checkStopped checks that every PID is gone and that list shows nothing
// running.
func (c *ctlHost) checkStopped(pids map[string]int) {
	c.t.Helper()
	for name, pid := range pids {
		if alive(pid) {
			c.t.Errorf("%s (PID %d) still runs after stop", name, pid)
		}
	}
	for _, r := range c.list() {
		if r.Status == "running" {
			c.t.Errorf("list still shows %+v as running after stop", r)
		}
	}
}

// Example 3 of the manual: three daemons discover each other by UDP
// broadcast; list, logs and status show them; stop --all ends them.
func TestCtlBackgroundDaemons(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	h := net.Host(0)
	c := newCtlHost(t, h, true)

	// First-Time Setup.
	r := c.ok("./logstreamctl config init")
	if !strings.Contains(r.stdout, c.state) {
		t.Errorf("config init does not name %s:\n%s", c.state, r)
	}
	r = c.ok("./logstreamctl config show")
	for _, want := range []string{c.state, filepath.Join(c.state, "pids"), filepath.Join(c.state, "logs")} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config show does not show %s:\n%s", want, r)
		}
	}

	r = c.ok("./logstreamctl start broker --name node1 --background")
	if !strings.Contains(r.stdout, "started broker node1") {
		t.Errorf("start broker says:\n%s", r)
	}
	c.waitBroker("node1")
	c.ok("./logstreamctl start producer --name prod1 --topic logs --rate 5 --background")
	c.ok("./logstreamctl start consumer --name cons1 --topic logs --background")

	pids := c.checkRunning(map[string]string{"node1": "broker", "prod1": "producer", "cons1": "consumer"})
	t.Logf("%s", c.ok("./logstreamctl list"))
	rows := c.list()
	if want := h.IP.String() + ":8001"; rows["node1"].Address != want {
		t.Errorf("list shows node1 at %s, want the auto-detected %s", rows["node1"].Address, want)
	}
	for _, n := range []string{"prod1", "cons1"} {
		if rows[n].Topic != "logs" {
			t.Errorf("list shows %s on topic %q, want logs", n, rows[n].Topic)
		}
	}

	// State Directory Structure.
	for name, pid := range pids {
		b, err := os.ReadFile(filepath.Join(c.state, "pids", name+".pid"))
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
			t.Errorf("pids/%s.pid holds %q (%v), want %d", name, b, err, pid)
		}
		if _, err := os.Stat(filepath.Join(c.state, "logs", name+".log")); err != nil {
			t.Errorf("logs/%s.log: %v", name, err)
		}
	}
	if _, err := c.stateDoc(); err != nil {
		t.Errorf("processes.json: %v", err)
	}

	c.eventually("./logstreamctl logs cons1", "log message #", 20*time.Second)
	c.eventually("./logstreamctl logs prod1", "starting producer prod1", 5*time.Second)
	c.ok("./logstreamctl logs node1 --lines 100")
	c.followUntil("./logstreamctl logs cons1 --follow", "log message #", 20*time.Second)

	r = c.eventually("./logstreamctl status", "TOPICS", 10*time.Second)
	t.Logf("%s", r) // shown with -v: what a user sees
	for _, want := range []string{"LOCAL PROCESSES", "node1", "prod1", "cons1", "CLUSTER"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, r)
		}
	}
	if !topicListed(r.stdout, "logs") {
		t.Errorf("status does not list topic logs:\n%s", r)
	}

	r = c.ok("./logstreamctl stop --all")
	for _, n := range []string{"node1", "prod1", "cons1"} {
		if !strings.Contains(r.stdout, "stopped "+n) {
			t.Errorf("stop --all does not report stopping %s:\n%s", n, r)
		}
	}
	c.checkStopped(pids)
	for name := range pids {
		if _, err := os.Stat(filepath.Join(c.state, "pids", name+".pid")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pids/%s.pid is left behind after stop --all (%v)", name, err)
		}
	}
}

// topicListed reports whether the TOPICS section of status has a row for
// topic.
func topicListed(status, topic string) bool {
	_, sec, ok := strings.Cut(status, "\nTOPICS\n")
	if !ok {
		return false
	}
	sec, _, _ = strings.Cut(sec, "\n\n")
	for _, l := range strings.Split(sec, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == topic {
			return true
		}
	}
	return false
}

// followUntil runs a --follow line until its output contains want, then
// ends it with SIGTERM (as Ctrl-C would) and expects exit status 0.
func (c *ctlHost) followUntil(line, want string, d time.Duration) {
	c.t.Helper()
	words := shellWords(c.t, line)
	if len(words) == 0 {
		c.t.FailNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	cmd := c.h.Command(ctx, words[0], words[1:]...)
	cmd.Dir, cmd.Env = binary(c.t), c.env
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, errb
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(d)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			c.t.Fatalf("%s exited (%v) before printing %q:\n%s\n%s", line, err, want, out, errb)
		case <-time.After(50 * time.Millisecond): // polling output, bounded below
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			c.t.Fatalf("%s did not print %q within %s:\n%s", line, want, d, tail(out.String(), 10))
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("%s did not end cleanly on SIGTERM: %v\n%s", line, err, errb)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		c.t.Errorf("%s ignored SIGTERM", line)
	}
}

// Example 4: three topics, each consumer with its own analytics window and
// update interval; every topic gets records. The manual starts the broker
// in the foreground; here it runs with --background.
func TestCtlMultipleTopics(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	c := newCtlHost(t, net.Host(0), true)

	c.ok("./logstreamctl start broker --name node1 --background")
	c.waitBroker("node1")
	for _, l := range []string{
		"./logstreamctl start producer --name prod-sensors --topic sensors --rate 5 --background",
		"./logstreamctl start producer --name prod-metrics --topic metrics --rate 10 --background",
		"./logstreamctl start producer --name prod-events --topic events --rate 2 --background",
		"./logstreamctl start consumer --name cons-sensors --topic sensors --window 30 --interval 500 --background",
		"./logstreamctl start consumer --name cons-metrics --topic metrics --window 120 --interval 5000 --background",
		"./logstreamctl start consumer --name cons-events --topic events --background",
	} {
		c.ok(l)
	}
	want := map[string]string{"node1": "broker"}
	for _, topic := range []string{"sensors", "metrics", "events"} {
		want["prod-"+topic] = "producer"
		want["cons-"+topic] = "consumer"
	}
	pids := c.checkRunning(want)
	rows := c.list()
	for _, topic := range []string{"sensors", "metrics", "events"} {
		for _, n := range []string{"prod-" + topic, "cons-" + topic} {
			if rows[n].Topic != topic {
				t.Errorf("list shows %s on topic %q, want %s", n, rows[n].Topic, topic)
			}
		}
	}
	for _, topic := range []string{"sensors", "metrics", "events"} {
		c.eventually("./logstreamctl logs cons-"+topic, "log message #", 20*time.Second)
	}
	// The short update interval makes the broker push statistics often.
	c.eventually("./logstreamctl logs cons-sensors", "[stats", 15*time.Second)

	r := c.ok("./logstreamctl status")
	for _, topic := range []string{"sensors", "metrics", "events"} {
		if !topicListed(r.stdout, topic) {
			t.Errorf("status does not list topic %s:\n%s", topic, r)
		}
	}
	c.ok("./logstreamctl stop --all")
	c.checkStopped(pids)
}

// Troubleshooting: a name cannot be started twice, and naming a process
// that does not exist is a clear one-line error with a non-zero status.
// This test leaves LOGSTREAM_HOME unset: the state must be in ~/.logstream,
// where the manual's "cat ~/.logstream/logs/node1.log" looks.
func TestCtlTroubleshooting(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	c := newCtlHost(t, net.Host(0), false)

	c.ok("./logstreamctl start broker --name node1 --background")
	c.waitBroker("node1")
	pids := c.checkRunning(map[string]string{"node1": "broker"})

	c.fails("./logstreamctl start broker --name node1 --background", "already running")
	c.fails("./logstreamctl start broker --name node1", "already running")
	c.fails("./logstreamctl start producer --name node1 --topic logs --rate 5 --background", "already running")
	if got := c.checkRunning(map[string]string{"node1": "broker"}); got["node1"] != pids["node1"] {
		t.Errorf("node1 is PID %d after the refused starts, was %d", got["node1"], pids["node1"])
	}

	c.fails("./logstreamctl stop nosuch", "no process named nosuch")
	c.fails("./logstreamctl logs nosuch", "no process named nosuch")
	c.fails("./logstreamctl election nosuch", "no process named nosuch")

	b, err := os.ReadFile(filepath.Join(c.home, ".logstream", "logs", "node1.log"))
	if err != nil || !strings.Contains(string(b), "ClusterState") {
		t.Errorf("~/.logstream/logs/node1.log (%v) lacks the broker's output:\n%s", err, tail(string(b), 10))
	}

	// The manual's remedy: stop the process, after which the name is free.
	r := c.ok("./logstreamctl stop node1")
	if !strings.Contains(r.stdout, "stopped node1") {
		t.Errorf("stop node1 says:\n%s", r)
	}
	c.checkStopped(pids)
	c.fails("./logstreamctl stop node1", "no process named node1")
	c.ok("./logstreamctl start broker --name node1 --background")
	again := c.checkRunning(map[string]string{"node1": "broker"})

	// A daemon that died behind logstreamctl's back (kill -9, a crash) is
	// shown as stopped, does not block its name, and stop cleans it up.
	if err := syscall.Kill(again["node1"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitDead(again["node1"], 5*time.Second) {
		t.Fatalf("broker PID %d survived SIGKILL", again["node1"])
	}
	if row := c.list()["node1"]; row.Status != "stopped" || row.PID != 0 {
		t.Errorf("list shows the killed broker as %+v, want stopped without a PID", row)
	}
	r = c.ok("./logstreamctl stop --all")
	if !strings.Contains(r.stdout, "node1 was not running") {
		t.Errorf("stop --all on a dead daemon says:\n%s", r)
	}
	if rows := c.list(); len(rows) != 0 {
		t.Errorf("list still shows %v after stop --all removed the stale entry", rows)
	}
	c.ok("./logstreamctl start broker --name node1 --background")
	last := c.checkRunning(map[string]string{"node1": "broker"})
	c.ok("./logstreamctl stop node1")
	c.checkStopped(last)
}

// `election node1` on a running broker signals it, and its log shows the
// election.
func TestCtlElection(t *testing.T) {
	t.Parallel()
	h := testnet.Loopback(t)
	c := newCtlHost(t, h, true)

	c.ok("./logstreamctl start broker --name node1 --background")
	c.waitBroker("node1")
	pids := c.checkRunning(map[string]string{"node1": "broker"})
	r := c.ok("./logstreamctl election node1")
	if !strings.Contains(r.stdout, "node1") {
		t.Errorf("election says:\n%s", r)
	}
	c.eventually("./logstreamctl logs node1", "ELECTION", 10*time.Second)
	if !alive(pids["node1"]) {
		t.Fatalf("the broker died after the election signal")
	}
	c.ok("./logstreamctl stop --all")
	c.checkStopped(pids)
}

// Several `start producer` runs at once: each takes the state lock, so none
// of them is lost from list and each gets its own process.
func TestCtlConcurrentStarts(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	c := newCtlHost(t, net.Host(0), true)

	c.ok("./logstreamctl start broker --name node1 --background")
	const n = 8
	results := make([]ctlResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.run(fmt.Sprintf("./logstreamctl start producer --name prod%d --topic logs --rate 5 --background", i+1))
		}()
	}
	wg.Wait()
	want := map[string]string{"node1": "broker"}
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("concurrent start %d failed:\n%s", i+1, r)
		}
		want[fmt.Sprintf("prod%d", i+1)] = "producer"
	}
	pids := c.checkRunning(want)
	doc, err := c.stateDoc()
	if err != nil || len(doc.Processes) != n+1 {
		t.Errorf("processes.json holds %d entries (%v), want %d", len(doc.Processes), err, n+1)
	}
	r := c.ok("./logstreamctl stop --all")
	if got := strings.Count(r.stdout, "stopped "); got != n+1 {
		t.Errorf("stop --all reported %d stops, want %d:\n%s", got, n+1, r)
	}
	c.checkStopped(pids)
}

// fgCtl is a foreground logstreamctl, as if typed in a terminal of its own.
type fgCtl struct {
	t      *testing.T
	line   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // the terminal's keyboard
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// foreground starts line in its own process group, which stands for the
// terminal's foreground job: interrupt signals the whole group, as Ctrl-C
// does. Whatever is left of the group is killed when the test ends.
func (c *ctlHost) foreground(line string) *fgCtl {
	c.t.Helper()
	words := shellWords(c.t, line)
	if len(words) == 0 {
		c.t.FailNow()
	}
	cmd := c.h.Command(context.Background(), words[0], words[1:]...)
	cmd.Dir, cmd.Env = binary(c.t), c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	f := &fgCtl{t: c.t, line: line, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f.stdout, f.stderr
	var err error
	if f.stdin, err = cmd.StdinPipe(); err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		f.err = cmd.Wait()
		close(f.done)
	}()
	c.t.Cleanup(func() {
		// `ip netns exec` execs in place, so the group is logstreamctl's PID.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-f.done
	})
	return f
}

// interrupt sends SIGINT to the job's process group, as Ctrl-C does (but
// with no terminal involved: logstreamctl forwards it to its child as well;
// TestCtlCtrlCIsDeliveredOnce types Ctrl-C into a real terminal).
func (f *fgCtl) interrupt() {
	if err := syscall.Kill(-f.cmd.Process.Pid, syscall.SIGINT); err != nil {
		f.t.Fatalf("Ctrl-C to %s: %v", f.line, err)
	}
}

// waitOutput waits until stdout (or stderr) contains want.
func (f *fgCtl) waitOutput(stderr bool, want string, d time.Duration) {
	f.t.Helper()
	buf := f.stdout
	if stderr {
		buf = f.stderr
	}
	deadline := time.Now().Add(d)
	for !strings.Contains(buf.String(), want) {
		select {
		case <-f.done:
			f.t.Fatalf("%s exited (%v) before printing %q; stderr:\n%s", f.line, f.err, want, tail(f.stderr.String(), 20))
		case <-time.After(20 * time.Millisecond): // polling output, bounded below
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s did not print %q within %s; stderr:\n%s", f.line, want, d, tail(f.stderr.String(), 20))
		}
	}
}

// exitCode waits up to d for the job to end and returns its status.
func (f *fgCtl) exitCode(d time.Duration) int {
	f.t.Helper()
	select {
	case <-f.done:
	case <-time.After(d):
		f.t.Fatalf("%s did not exit within %s; stderr:\n%s", f.line, d, tail(f.stderr.String(), 20))
	}
	var ee *exec.ExitError
	switch {
	case f.err == nil:
		return 0
	case errors.As(f.err, &ee):
		return ee.ExitCode()
	}
	f.t.Fatalf("%s: %v", f.line, f.err)
	return -1
}

// The Quick Start (and Example 1) as written: three foreground jobs, as in
// three terminals. Ctrl-C ends one; `stop --all` from a fourth terminal ends
// the others, and each foreground logstreamctl exits when its child does.
func TestCtlQuickStartForeground(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	c := newCtlHost(t, net.Host(0), true)

	c.ok("./logstreamctl config init")
	broker := c.foreground("./logstreamctl start broker --name node1")
	broker.waitOutput(true, "running in the foreground", 10*time.Second)
	broker.waitOutput(true, "ClusterState", 15*time.Second)
	prod := c.foreground("./logstreamctl start producer --name prod1 --topic logs --rate 5")
	cons := c.foreground("./logstreamctl start consumer --name cons1 --topic logs")
	// Records go to the consumer's terminal.
	cons.waitOutput(false, "log message #", 20*time.Second)
	pids := c.checkRunning(map[string]string{"node1": "broker", "prod1": "producer", "cons1": "consumer"})

	// A foreground process has no log file: its output is in its terminal.
	c.fails("./logstreamctl logs node1", "foreground")

	// Ctrl-C in terminal 3 ends the consumer and its logstreamctl, which
	// forgets the entry.
	cons.interrupt()
	if code := cons.exitCode(15 * time.Second); code != 0 && code != 130 {
		t.Errorf("consumer job exited %d after Ctrl-C, want 0 or 130; stderr:\n%s", code, tail(cons.stderr.String(), 10))
	}
	if !waitDead(pids["cons1"], 5*time.Second) {
		t.Errorf("consumer (PID %d) still runs after Ctrl-C", pids["cons1"])
	}
	c.checkRunning(map[string]string{"node1": "broker", "prod1": "producer"})

	r := c.ok("./logstreamctl stop --all")
	for _, n := range []string{"node1", "prod1"} {
		if !strings.Contains(r.stdout, "stopped "+n) {
			t.Errorf("stop --all does not report stopping %s:\n%s", n, r)
		}
	}
	for _, job := range []*fgCtl{prod, broker} {
		if code := job.exitCode(15 * time.Second); code != 0 {
			t.Errorf("%s exited %d after stop --all, want 0 (its child stopped cleanly); stderr:\n%s", job.line, code, tail(job.stderr.String(), 10))
		}
	}
	c.checkStopped(pids)
	if rows := c.list(); len(rows) != 0 {
		t.Errorf("list still shows %v after stop --all", rows)
	}
}

// The manual's producer and consumer option lines against one broker:
// explicit --leader, fixed --port, --count, quoted --message templates,
// --no-analytics, and the interactive producer reading the terminal.
func TestCtlClientOptions(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	h := net.Host(0)
	c := newCtlHost(t, h, true)
	leader := h.IP.String() + ":8001"

	c.ok("./logstreamctl start broker --name node1 --address " + leader + " --background")
	c.waitBroker("node1")
	c.ok("./logstreamctl start consumer --name cons1 --topic logs --no-analytics --background")
	c.ok("./logstreamctl start consumer --name cons2 --leader " + leader + " --topic logs --background")
	c.ok("./logstreamctl start producer --name prod1 --leader " + leader + " --topic logs --port 8002 --rate 10 --count 1000 --message \"log-entry\" --background")
	c.ok("./logstreamctl start producer --name prod2 --topic logs --rate 5 --message \"sensor-data\" --background")
	c.ok("./logstreamctl start producer --name prod3 --topic logs --interval 100 --count 3 --message \"counted\" --background")

	rows := c.list()
	for _, n := range []string{"prod1", "cons2"} {
		if rows[n].Address != leader {
			t.Errorf("list shows %s with leader %q, want %s", n, rows[n].Address, leader)
		}
	}
	for _, want := range []string{"log-entry #", "sensor-data #", "counted #3"} {
		c.eventually("./logstreamctl logs cons1", want, 20*time.Second)
		c.eventually("./logstreamctl logs cons2", want, 20*time.Second)
	}
	if r := c.ok("./logstreamctl logs cons1 --lines 1000"); strings.Contains(r.stdout, "[stats") {
		t.Errorf("the --no-analytics consumer printed statistics:\n%s", tail(r.stdout, 10))
	}
	// prod3 sent its three messages and exited by itself.
	c.eventually("./logstreamctl list", "stopped", 15*time.Second)
	if row := c.list()["prod3"]; row.Status != "stopped" {
		t.Errorf("list shows %+v, want prod3 stopped after --count 3", row)
	}

	// Interactive mode: the producer sends what is typed in its terminal
	// and, at end of input, exits 0 once every line is acknowledged.
	typed := c.foreground("./logstreamctl start producer --name prod4 --topic logs")
	for i := 1; i <= 3; i++ {
		if _, err := fmt.Fprintf(typed.stdin, "typed line %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := typed.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if code := typed.exitCode(20 * time.Second); code != 0 {
		t.Errorf("interactive producer exited %d at end of input; stderr:\n%s", code, tail(typed.stderr.String(), 10))
	}
	c.eventually("./logstreamctl logs cons1", "typed line 3", 10*time.Second)
	if _, ok := c.list()["prod4"]; ok {
		t.Errorf("the finished foreground producer is still listed")
	}

	r := c.ok("./logstreamctl stop --all")
	if !strings.Contains(r.stdout, "prod3 was not running") {
		t.Errorf("stop --all does not report prod3's stale entry:\n%s", r)
	}
	if rows := c.list(); len(rows) != 0 {
		t.Errorf("list still shows %v after stop --all", rows)
	}
}

// openPty returns a new pseudo-terminal's master and its terminal end.
func openPty(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return m, s
}

// One Ctrl-C in the terminal of a foreground producer is one Ctrl-C: the
// producer stops producing and waits for its records to be acknowledged
// (here by a broker that only starts afterwards), rather than taking it as
// the second Ctrl-C that abandons them. The job runs with a real
// pseudo-terminal as its controlling terminal and Ctrl-C is typed into it,
// so the kernel signals the whole foreground job as it would for a user.
func TestCtlCtrlCIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	c := newCtlHost(t, net.Host(0), true)
	master, tty := openPty(t)

	line := "./logstreamctl start producer --name prod1 --topic logs --rate 5 --hb-interval 5 --hb-timeout 30 --reconnect-attempts 20 --reconnect-delay 2"
	words := shellWords(t, line)
	cmd := c.h.Command(context.Background(), words[0], words[1:]...)
	cmd.Dir, cmd.Env = binary(c.t), c.env
	cmd.Stdin = tty
	job := &fgCtl{t: t, line: line, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = job.stdout, job.stderr
	// A session of its own with the pty as controlling terminal: the job
	// is that terminal's foreground process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		job.err = cmd.Wait()
		close(job.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-job.done
	})

	// No broker yet: the producer's records pile up unacknowledged.
	job.waitOutput(true, "no JOIN_RESPONSE", 15*time.Second)
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	job.waitOutput(true, "waiting for the broker to acknowledge", 10*time.Second)
	c.ok("./logstreamctl start broker --name node1 --background")
	if code := job.exitCode(40 * time.Second); code != 0 {
		t.Fatalf("after one Ctrl-C the producer exited %d instead of delivering what it had sent; stderr:\n%s", code, tail(job.stderr.String(), 8))
	}
	job.waitOutput(true, "producer done", time.Second)
	c.ok("./logstreamctl stop --all")
}

// brokerRow is one row of the BROKERS section of `logstreamctl status`.
type brokerRow struct {
	Addr, Name, Node, Leader string
	View                     uint64
}

// brokersAgree returns status's BROKERS rows when there are n of them, all
// reachable, naming one leader in one view.
func brokersAgree(status string, n int) ([]brokerRow, bool) {
	_, sec, ok := strings.Cut(status, "\nBROKERS\n")
	if !ok {
		return nil, false
	}
	sec, _, _ = strings.Cut(sec, "\n\n")
	var rows []brokerRow
	for _, l := range strings.Split(sec, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) != 6 || f[2] != "yes" {
			return nil, false
		}
		view, err := strconv.ParseUint(f[5], 10, 64)
		if err != nil {
			return nil, false
		}
		rows = append(rows, brokerRow{Addr: f[0], Name: f[1], Node: f[3], Leader: f[4], View: view})
	}
	if len(rows) != n {
		return nil, false
	}
	for _, r := range rows {
		if r.Leader != rows[0].Leader || r.View != rows[0].View {
			return nil, false
		}
	}
	return rows, true
}

// waitBrokersAgree polls status until n brokers agree on a leader and a view
// newer than after.
func (c *ctlHost) waitBrokersAgree(n int, after uint64, d time.Duration) []brokerRow {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := c.ok("./logstreamctl status")
		if rows, ok := brokersAgree(r.stdout, n); ok && rows[0].View > after {
			return rows
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("status never showed %d brokers agreeing on a view after %d within %s:\n%s", n, after, d, r)
		}
		time.Sleep(100 * time.Millisecond) // polling the cluster, bounded above
	}
}

// Example 2: three brokers on one machine form one cluster by broadcast,
// status shows them agreeing, records flow, and `election node2` on a
// follower makes the cluster install a newer view.
func TestCtlThreeBrokers(t *testing.T) {
	t.Parallel()
	net := testnet.New(t, testnet.Options{Hosts: 1})
	c := newCtlHost(t, net.Host(0), true)

	c.ok("./logstreamctl start broker --name node1 --address 8001 --background")
	c.waitBroker("node1")
	c.ok("./logstreamctl start broker --name node2 --address 8002 --background")
	c.ok("./logstreamctl start broker --name node3 --address 8003 --background")
	c.ok("./logstreamctl start producer --name prod1 --topic logs --rate 10 --background")
	c.ok("./logstreamctl start consumer --name cons1 --topic logs --background")
	pids := c.checkRunning(map[string]string{"node1": "broker", "node2": "broker", "node3": "broker", "prod1": "producer", "cons1": "consumer"})

	rows := c.waitBrokersAgree(3, 0, 30*time.Second)
	c.eventually("./logstreamctl logs cons1", "log message #", 30*time.Second)
	r := c.eventually("./logstreamctl status", "\nlogs ", 10*time.Second)
	if strings.Count(r.stdout, " leader\n") != 1 {
		t.Errorf("status does not show exactly one leader among the members:\n%s", r)
	}
	// The members and the leader go by the names they were started with.
	_, members, _ := strings.Cut(r.stdout, "\nMEMBERS\n")
	members, _, _ = strings.Cut(members, "\n\n")
	for _, name := range []string{"node1", "node2", "node3"} {
		if !strings.Contains(members, "\n"+name+" ") {
			t.Errorf("status does not name member %s:\n%s", name, r)
		}
	}
	if !strings.Contains(r.stdout, "Leader: node") {
		t.Errorf("status does not name the leader:\n%s", r)
	}

	c.ok("./logstreamctl election node2")
	c.eventually("./logstreamctl logs node2", "ELECTION", 10*time.Second)
	c.waitBrokersAgree(3, rows[0].View, 30*time.Second)
	before := strings.Count(c.ok("./logstreamctl logs cons1 --lines 1000").stdout, "log message #")
	c.eventually("./logstreamctl logs cons1 --lines 1000", "log message #"+strconv.Itoa(before+5), 20*time.Second)

	c.ok("./logstreamctl stop --all")
	c.checkStopped(pids)
}
