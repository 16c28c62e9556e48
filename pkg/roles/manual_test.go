package roles

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/internal/cliutil"
)

// manualLines returns every shell line in the manual's code blocks, with
// continuation lines joined.
func manualLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "CLI_MANUAL.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in, cont := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		if !in || l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	return lines
}

var assignment = regexp.MustCompile(`^[A-Z_]+=\S*$`)

// command splits a manual line into environment assignments and the
// LogStream command it runs, removing sudo, ip netns exec and a trailing &.
func command(line string) (env map[string]string, argv []string) {
	env = map[string]string{}
	words := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), "&"))
	for len(words) > 0 {
		switch {
		case words[0] == "sudo" || words[0] == "env":
			words = words[1:]
		case len(words) > 3 && words[0] == "ip" && words[1] == "netns" && words[2] == "exec":
			words = words[4:]
		case assignment.MatchString(words[0]):
			k, v, _ := strings.Cut(words[0], "=")
			env[k] = v
			words = words[1:]
		default:
			return env, unquote(words)
		}
	}
	return env, nil
}

// unquote joins "quoted words" the way a shell would (the manual only uses
// double quotes around plain words).
func unquote(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, `"`) {
			for !strings.HasSuffix(w, `"`) || len(w) == 1 {
				i++
				w += " " + words[i]
			}
			w = strings.Trim(w, `"`)
		}
		out = append(out, w)
	}
	return out
}

// parseOnly runs a role's command line through its parser, stopping before
// anything is started, and returns what the parser decided.
func parseOnly(t *testing.T, argv []string, env map[string]string) (any, int, string) {
	for _, k := range []string{"NODE_ADDRESS", "MULTICAST_GROUP", "BROADCAST_PORT", "LEADER_ADDRESS", "TOPIC",
		"BROKER_HB_INTERVAL", "CLIENT_TIMEOUT", "FAILURE_TIMEOUT", "LOG_LEVEL", "LOG_FORMAT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var got any
	var app *cli.App
	switch filepath.Base(argv[0]) {
	case "logstream":
		app = brokerApp()
		app.Action = func(c *cli.Context) (err error) { got, err = brokerConfig(c); return err }
	case "producer":
		app = producerApp(strings.NewReader(""))
		app.Action = func(c *cli.Context) (err error) { got, err = parseProducer(c); return err }
	case "consumer":
		app = consumerApp()
		app.Action = func(c *cli.Context) (err error) { got, err = parseConsumer(c); return err }
	default:
		t.Fatalf("not a role: %q", argv)
	}
	var stderr strings.Builder
	app = cliutil.Prepare(app, io.Discard, &stderr)
	code := cliutil.Run(app, argv)
	return got, code, stderr.String()
}

// TestManualCommandLines feeds every broker, producer and consumer line of
// the manual through the real parsers; logstreamctl's lines are checked in
// pkg/ctl and the go build lines here.
func TestManualCommandLines(t *testing.T) {
	t.Setenv("LOGSTREAM_HOME", t.TempDir())
	counts := map[string]int{}
	for _, line := range manualLines(t) {
		env, argv := command(line)
		if len(argv) == 0 {
			continue
		}
		switch {
		case argv[0] == "go" && len(argv) > 1 && (argv[1] == "build" || argv[1] == "run"):
			for _, part := range strings.Split(strings.Join(argv, " "), "&&") {
				f := strings.Fields(part)
				src := f[len(f)-1]
				if _, err := os.Stat(filepath.Join("..", "..", src)); err != nil {
					t.Errorf("%s: the manual builds %s, which does not exist", line, src)
				}
				counts["go"]++
			}
		case argv[0] == "./logstream" || argv[0] == "./producer" || argv[0] == "./consumer":
			got, code, stderr := parseOnly(t, argv, env)
			if code != 0 {
				t.Errorf("%s: exit %d: %s", line, code, stderr)
				continue
			}
			checkManualLine(t, line, got)
			counts[argv[0]]++
		}
	}
	// The manual has this many lines of each kind; a parser change that
	// skipped them would show here.
	for cmd, atLeast := range map[string]int{"./logstream": 8, "./producer": 10, "./consumer": 8, "go": 8} {
		if counts[cmd] < atLeast {
			t.Errorf("only %d manual lines run %s, want at least %d", counts[cmd], cmd, atLeast)
		}
	}
}

// checkManualLine checks the values that particular manual lines set.
func checkManualLine(t *testing.T, line string, got any) {
	t.Helper()
	switch cfg := got.(type) {
	case producerConfig:
		if strings.Contains(line, "-interval 5000") && cfg.Period != 5*time.Second {
			t.Errorf("%s: period %s", line, cfg.Period)
		}
		if strings.Contains(line, "-rate 10") && !strings.Contains(line, "-interval") && cfg.Period != 100*time.Millisecond {
			t.Errorf("%s: period %s", line, cfg.Period)
		}
		if strings.Contains(line, "-count 100") && cfg.Count != 100 {
			t.Errorf("%s: count %d", line, cfg.Count)
		}
		if strings.Contains(line, "-leader 172.28.226.255:8001") && cfg.Leader != "172.28.226.255:8001" {
			t.Errorf("%s: leader %q", line, cfg.Leader)
		}
		if strings.Contains(line, "-reconnect-attempts 20") && (cfg.ReconnectAttempts != 20 || cfg.ReconnectDelay != 2*time.Second) {
			t.Errorf("%s: reconnect %d/%s", line, cfg.ReconnectAttempts, cfg.ReconnectDelay)
		}
		if strings.Contains(line, "-port 8002") && cfg.LocalPort != 8002 {
			t.Errorf("%s: port %d", line, cfg.LocalPort)
		}
	case consumerConfig:
		if strings.Contains(line, "-analytics=false") == cfg.Analytics {
			t.Errorf("%s: analytics %v", line, cfg.Analytics)
		}
		if strings.Contains(line, "-window 30 -interval 2000") && (cfg.WindowSec != 30 || cfg.IntervalMs != 2000) {
			t.Errorf("%s: window %d interval %d", line, cfg.WindowSec, cfg.IntervalMs)
		}
		if strings.Contains(line, "-topic test") && cfg.Topic != "test" {
			t.Errorf("%s: topic %q", line, cfg.Topic)
		}
	default:
		bc := got.(broker.Config)
		if strings.Contains(line, "NODE_ADDRESS=172.28.226.255:8002") && bc.Advertise.String() != "172.28.226.255:8002" {
			t.Errorf("%s: address %s", line, bc.Advertise)
		}
		if strings.Contains(line, "LEADER_ADDRESS=172.28.226.255:8001") && bc.Leader != "172.28.226.255:8001" {
			t.Errorf("%s: leader %q", line, bc.Leader)
		}
		if strings.Contains(line, "BROKER_HB_INTERVAL=3") && (bc.BrokerHBInterval != 3*time.Second || bc.FailureTimeout != 20*time.Second || bc.ClientTimeout != time.Minute) {
			t.Errorf("%s: timing %s %s %s", line, bc.BrokerHBInterval, bc.FailureTimeout, bc.ClientTimeout)
		}
	}
}

func TestBadFlagsAreOneLineExitTwo(t *testing.T) {
	t.Setenv("LOGSTREAM_HOME", t.TempDir())
	for _, argv := range [][]string{
		{"producer", "-rate", "fast"},
		{"producer", "-bogus"},
		{"producer", "-leader", "nowhere"},
		{"producer", "-topic", "bad/topic"},
		{"consumer", "-from", "yesterday"},
		{"consumer", "-window", "-5"},
		{"consumer", "-format", "xml"},
		{"logstream", "--address", "99999"},
		{"logstream", "--multicast", "10.0.0.1:9999"},
		{"logstream", "stray-argument"},
	} {
		_, code, stderr := parseOnly(t, argv, nil)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || stderr == "" || strings.Contains(stderr, "goroutine") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line", argv, code, stderr)
		}
	}
	_, code, stderr := parseOnly(t, []string{"logstream"}, map[string]string{"FAILURE_TIMEOUT": "soon"})
	if code != 2 || !strings.Contains(stderr, "FAILURE_TIMEOUT") && !strings.Contains(stderr, "failure-timeout") {
		t.Errorf("bad FAILURE_TIMEOUT: exit %d, %q", code, stderr)
	}
	// A value out of range set in the environment names the variable the
	// user set, as the manual's broker is configured by them.
	// The clients' variables likewise (the manual's LEADER_ADDRESS and
	// TOPIC fall back for -leader and -topic).
	for _, c := range []struct{ role, env, value string }{
		{"producer", "LEADER_ADDRESS", "nope"}, {"consumer", "TOPIC", "a b"}, {"consumer", "CONSUMER_GROUP", "a b"},
		{"producer", "LOG_LEVEL", "loud"}, {"consumer", "LOG_FORMAT", "xml"},
	} {
		t.Run(c.env, func(t *testing.T) {
			_, code, stderr := parseOnly(t, []string{c.role}, map[string]string{c.env: c.value})
			if code != 2 || !strings.Contains(stderr, c.env) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("%s=%s %s: exit %d, %q; want exit 2 and one line naming %s", c.env, c.value, c.role, code, stderr, c.env)
			}
		})
	}
	for _, env := range []string{"BROKER_HB_INTERVAL", "ANALYTICS_WINDOW_SECONDS", "HANDSHAKE_TIMEOUT"} {
		t.Run(env, func(t *testing.T) { // a subtest: its environment ends with it
			_, code, stderr := parseOnly(t, []string{"logstream"}, map[string]string{env: "0"})
			if code != 2 || !strings.Contains(stderr, env) {
				t.Errorf("%s=0: exit %d, %q; want exit 2 naming %s", env, code, stderr, env)
			}
		})
	}
}

// GROUP_LEASE_TIMEOUT (--group-lease-timeout) reaches the broker's config.
func TestGroupLeaseTimeoutSetting(t *testing.T) {
	t.Setenv("LOGSTREAM_HOME", t.TempDir())
	got, code, stderr := parseOnly(t, []string{"logstream"}, map[string]string{"GROUP_LEASE_TIMEOUT": "3"})
	if bc, ok := got.(broker.Config); code != 0 || !ok || bc.GroupLeaseTimeout != 3*time.Second {
		t.Fatalf("GROUP_LEASE_TIMEOUT=3: exit %d %q, config %+v", code, stderr, got)
	}
	got, code, _ = parseOnly(t, []string{"logstream", "--group-lease-timeout", "7"}, nil)
	if bc, ok := got.(broker.Config); code != 0 || !ok || bc.GroupLeaseTimeout != 7*time.Second {
		t.Fatalf("--group-lease-timeout 7: exit %d, config %+v", code, got)
	}
}
