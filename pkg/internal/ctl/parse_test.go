package ctl

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	lookup := appLookup(newApp(newRig(t).env))
	cases := []struct{ in, want string }{
		{"logs node1 --follow", "logs --follow node1"},
		{"logs node1 --lines 100", "logs --lines 100 node1"},
		{"logs node1 --lines=100 -f", "logs --lines=100 -f node1"},
		{"logs --lines 100 node1", "logs --lines 100 node1"},
		{"stop node1 node2 --grace 1s", "stop --grace 1s node1 node2"},
		{"start broker --name node1 --address 8002 -bg", "start broker --name node1 --address 8002 -bg"},
		{"start producer prodX --name p -m --dash", "start producer --name p -m --dash prodX"},
		{"logs node1 -- --follow", "logs -- node1 --follow"},
		{"election node1 --timeout 2s", "election --timeout 2s node1"},
		{"config show --json", "config show --json"},
		{"logs node1 --bogus x", "logs --bogus node1 x"},
		{"logs node1 --lines", "logs --lines node1"},
		{"help start", "help start"},
		{"start gateway --name g", "start gateway --name g"},
		{"frob --x", "frob --x"},
		{"", ""},
	}
	for _, c := range cases {
		in := append([]string{"logstreamctl"}, strings.Fields(c.in)...)
		want := append([]string{"logstreamctl"}, strings.Fields(c.want)...)
		if got := normalizeArgs(in, lookup); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, want %q", c.in, got, want)
		}
	}
	if got := normalizeArgs(nil, lookup); got != nil {
		t.Errorf("nil args: %q", got)
	}
}

// TestParserTrapWithoutNormalize documents why normalizeArgs exists: cli v2
// alone ignores a flag after the positional argument.
func TestParserTrapWithoutNormalize(t *testing.T) {
	r := newRig(t)
	var got any
	r.env.intercept = func(o any) (bool, error) { got = o; return true, nil }
	app := newApp(r.env)
	_ = app.RunContext(context.Background(), []string{"logstreamctl", "logs", "node1", "--follow"})
	if lo, ok := got.(logsOptions); ok && lo.Follow {
		t.Skip("cli no longer stops at the first positional; normalizeArgs is harmless but unneeded")
	}
	if code := r.run("logs", "node1", "--follow"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	if lo := got.(logsOptions); !lo.Follow {
		t.Fatalf("normalised run did not follow: %+v", lo)
	}
}

func TestShortFlags(t *testing.T) {
	r := newRig(t)
	var got any
	r.env.intercept = func(o any) (bool, error) { got = o; return true, nil }
	if code := r.run("start", "producer", "-n", "p1", "-l", "10.0.0.1:8001", "-t", "t1", "-p", "9000", "-a", "10.0.0.2",
		"-r", "5", "-i", "100", "-c", "7", "-m", "hi there", "-bg"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	s := r.launcher.last()
	for _, a := range []string{"-name=p1", "-leader=10.0.0.1:8001", "-topic=t1", "-port=9000", "-address=10.0.0.2",
		"-rate=5", "-interval=100", "-count=7", "-message=hi there"} {
		if !hasArg(s.Args, a) {
			t.Errorf("missing %s in %q", a, s.Args)
		}
	}
	if !s.Background || !strings.HasSuffix(s.LogPath, "/logs/p1.log") {
		t.Errorf("background %v log %q", s.Background, s.LogPath)
	}
	if code := r.run("start", "consumer", "-n", "c1", "-w", "30", "--interval", "500", "--no-analytics", "-bg"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	s = r.launcher.last()
	for _, a := range []string{"-name=c1", "-window=30", "-interval=500", "-analytics=false", "-topic=logs"} {
		if !hasArg(s.Args, a) {
			t.Errorf("missing %s in %q", a, s.Args)
		}
	}
	if code := r.run("start", "broker", "-n", "b1", "-a", "10.0.0.1:8005", "-m", "239.0.0.5:9999", "-b", "8889", "-l", "10.0.0.9:8001", "-bg"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	s = r.launcher.last()
	for k, v := range map[string]string{"NODE_ADDRESS": "10.0.0.1:8005", "MULTICAST_GROUP": "239.0.0.5:9999",
		"BROADCAST_PORT": "8889", "LEADER_ADDRESS": "10.0.0.9:8001", "NODE_NAME": "b1"} {
		if got, _ := envValue(s.Env, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(r.out.String(), "PID:") || !strings.Contains(r.out.String(), "Log:") {
		t.Errorf("background output: %s", r.out.String())
	}
	if code := r.run("logs", "-n", "10", "-f", "node1"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if lo := got.(logsOptions); lo.Lines != 10 || !lo.Follow {
		t.Errorf("logs: %+v", lo)
	}
}

func TestBrokerAutoAddress(t *testing.T) {
	r := newRig(t)
	busy := map[int]bool{8001: true, 8002: true}
	r.env.portFree = func(p int) bool { return !busy[p] }
	if code := r.run("start", "broker", "--name", "node1", "-bg"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	if got, _ := envValue(r.launcher.last().Env, "NODE_ADDRESS"); got != "8003" {
		t.Errorf("NODE_ADDRESS = %q, want 8003 (8001 and 8002 taken)", got)
	}
	if code := r.run("start", "broker", "--name", "node2", "--address", "8002"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	if got, _ := envValue(r.launcher.last().Env, "NODE_ADDRESS"); got != "8002" {
		t.Errorf("NODE_ADDRESS = %q, want 8002", got)
	}
	m, _ := newStore(mustPaths(t, r)).Load()
	if m["node1"].Address != "192.0.2.1:8003" {
		t.Errorf("recorded address %q", m["node1"].Address)
	}
}

func mustPaths(t *testing.T, r *testRig) statePaths {
	t.Helper()
	p, err := resolvePaths(r.env.getenv)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUsageErrors: every mistake is one line on stderr naming the problem,
// exit 2, and launches nothing.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"start", "broker"}, "--name is required"},
		{[]string{"start", "broker", "--name", "../evil"}, "invalid process name"},
		{[]string{"start", "broker", "--name", "a/b"}, "invalid process name"},
		{[]string{"start", "broker", "--name", ".hidden"}, "invalid process name"},
		{[]string{"start", "broker", "--name", "n", "--bogus"}, "unknown option --bogus"},
		{[]string{"start", "broker", "--name", "n", "--address", "70000"}, "--address"},
		{[]string{"start", "broker", "--name", "n", "--address", "host:"}, "--address"},
		{[]string{"start", "broker", "--name", "n", "--multicast", "10.0.0.1:9999"}, "--multicast"},
		{[]string{"start", "broker", "--name", "n", "--broker-hb-interval", "0"}, "--broker-hb-interval"},
		{[]string{"start", "producer", "--name", "p", "--rate", "abc"}, "--rate"},
		{[]string{"start", "producer", "--name", "p", "--rate", "-1"}, "--rate"},
		{[]string{"start", "producer", "--name", "p", "--leader", "nope"}, "--leader"},
		{[]string{"start", "producer", "--name", "p", "--background"}, "--rate N or --interval"},
		{[]string{"start", "producer", "--name", "p", "--rate", "0", "-bg"}, "--rate N or --interval"},
		{[]string{"start", "consumer", "--name", "c", "--rate", "5"}, "unknown option --rate"},
		{[]string{"start", "consumer", "--name", "c", "extra"}, "unexpected argument"},
		{[]string{"start", "gateway", "--name", "g"}, "unknown process type"},
		{[]string{"start"}, "missing process type"},
		{[]string{"stop"}, "NAME or --all"},
		{[]string{"stop", "--all", "node1"}, "NAME or --all"},
		{[]string{"stop", "../x"}, "invalid process name"},
		{[]string{"logs"}, "exactly one"},
		{[]string{"logs", "node1", "--lines", "x"}, "--lines"},
		{[]string{"logs", "node1", "--lines", "-3"}, "--lines"},
		{[]string{"logs", "../../etc/passwd"}, "invalid process name"},
		{[]string{"election"}, "NAME or --address"},
		{[]string{"election", "node1", "--address", "1.2.3.4:5"}, "NAME or --address"},
		{[]string{"status", "--interval", "1ms"}, "--interval"},
		{[]string{"status", "--broker", "x"}, "--broker"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"config"}, "missing subcommand"},
		{[]string{"completion", "fish"}, "unsupported shell"},
		{[]string{"list", "--bogus"}, "unknown option --bogus"},
		{[]string{"list", "extra"}, `logstreamctl: list: unexpected argument "extra"`},
		{[]string{"logs", "node1", "--lines", "abc"}, `invalid value "abc" for --lines: want a whole number`},
		{[]string{"start", "broker", "--name"}, "option needs a value: --name"},
	}
	for _, c := range cases {
		r := newRig(t)
		code := r.run(c.args...)
		stderr := r.err.String()
		// Said once, in the user's words: no "logstreamctl: logstreamctl
		// list: ...", no parser's "parse error".
		if strings.Contains(stderr, "parse error") || strings.HasPrefix(stderr, "logstreamctl: logstreamctl ") {
			t.Errorf("%q: stderr %q", c.args, stderr)
		}
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, stderr, c.want)
		}
		if r.launcher.count() != 0 {
			t.Errorf("%q: launched something", c.args)
		}
	}
}

func TestOperationalErrors(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stop", "ghost"}, "no process named ghost; see logstreamctl list"},
		{[]string{"logs", "ghost"}, "no process named ghost"},
		{[]string{"election", "ghost"}, "no process named ghost"},
	} {
		r.err.Reset()
		if code := r.run(c.args...); code != 1 || !strings.Contains(r.err.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q", c.args, code, r.err.String())
		}
	}
}

func TestHelpVersionCompletionConfig(t *testing.T) {
	r := newRig(t)
	for _, args := range [][]string{{}, {"help"}, {"--help"}, {"start", "broker", "--help"}, {"version"}, {"--version"}} {
		r.out.Reset()
		if code := r.run(args...); code != 0 || r.out.String() == "" {
			t.Errorf("%q: exit %d, out %q, err %q", args, code, r.out.String(), r.err.String())
		}
	}
	r.out.Reset()
	if code := r.run("start", "broker", "--help"); code != 0 || !strings.Contains(r.out.String(), "--broadcast-port") {
		t.Errorf("broker help: %s", r.out.String())
	}
	for _, sh := range []string{"bash", "zsh"} {
		r.out.Reset()
		if code := r.run("completion", sh); code != 0 {
			t.Fatalf("completion %s: exit %d", sh, code)
		}
		out := r.out.String()
		for _, w := range []string{"complete -F _logstreamctl", "start/broker", "--broker-hb-interval", "-bg", "list --names", "completion/*) words=\"bash zsh\""} {
			if !strings.Contains(out, w) {
				t.Errorf("completion %s lacks %q", sh, w)
			}
		}
	}
	r.out.Reset()
	if code := r.run("config", "init"); code != 0 {
		t.Fatalf("config init: %s", r.err.String())
	}
	p := mustPaths(t, r)
	for _, d := range []string{p.PidDir, p.LogDir, p.StateFile} {
		if !exists(d) {
			t.Errorf("config init did not create %s", d)
		}
	}
	r.out.Reset()
	if code := r.run("config", "show"); code != 0 || !strings.Contains(r.out.String(), r.home) {
		t.Errorf("config show: %s", r.out.String())
	}
}

func TestReportMapping(t *testing.T) {
	var b strings.Builder
	if code := report(&b, &exitStatus{code: 130}); code != 130 || b.Len() != 0 {
		t.Errorf("exit status: %d %q", code, b.String())
	}
	if code := report(&b, usageErrorf("bad\nthing")); code != 2 || b.String() != "logstreamctl: bad; thing\n" {
		t.Errorf("usage: %d %q", code, b.String())
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
