package roles

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/topiclog"
)

// setting is one default as pkg/defaults states it and as the user meets
// it: a flag, its environment variable (if any) and the text --help and the
// README show.
type setting struct {
	flag, env, want string
}

func brokerSettings() []setting {
	sec := func(d interface{ Seconds() float64 }) string { return fmt.Sprint(int(d.Seconds())) }
	return []setting{
		{"multicast", "MULTICAST_GROUP", defaults.MulticastGroup},
		{"broadcast-port", "BROADCAST_PORT", fmt.Sprint(defaults.DiscoveryPort)},
		{"max-records", "MAX_RECORDS_PER_TOPIC", fmt.Sprint(defaults.MaxRecordsPerTopic)},
		{"analytics-window", "ANALYTICS_WINDOW_SECONDS", sec(defaults.AnalyticsWindow)},
		{"broker-hb-interval", "BROKER_HB_INTERVAL", sec(defaults.BrokerHBInterval)},
		{"client-hb-interval", "CLIENT_HB_INTERVAL", sec(defaults.ClientHBInterval)},
		{"broker-timeout", "BROKER_TIMEOUT", sec(defaults.BrokerTimeout)},
		{"client-timeout", "CLIENT_TIMEOUT", sec(defaults.ClientTimeout)},
		{"follower-hb-interval", "FOLLOWER_HB_INTERVAL", sec(defaults.FollowerHBInterval)},
		{"suspicion-timeout", "SUSPICION_TIMEOUT", sec(defaults.SuspicionTimeout)},
		{"failure-timeout", "FAILURE_TIMEOUT", sec(defaults.FailureTimeout)},
		{"flush", "FLUSH_POLICY", defaults.FlushPolicy},
		{"flush-interval", "FLUSH_INTERVAL", defaults.FlushInterval.String()},
		{"max-frame", "MAX_FRAME", fmt.Sprint(defaults.MaxFrame)},
		{"max-connections", "MAX_CONNECTIONS", fmt.Sprint(defaults.MaxConnections)},
		{"max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", fmt.Sprint(defaults.MaxConnectionsPerIP)},
		{"max-inflight-records", "MAX_INFLIGHT_RECORDS", fmt.Sprint(defaults.MaxInFlightRecords)},
		{"handshake-timeout", "HANDSHAKE_TIMEOUT", sec(defaults.HandshakeTimeout)},
		{"group-lease-timeout", "GROUP_LEASE_TIMEOUT", sec(defaults.GroupLeaseTimeout)},
	}
}

func clientSettings() []setting {
	sec := func(d interface{ Seconds() float64 }) string { return fmt.Sprint(int(d.Seconds())) }
	return []setting{
		{"topic", "TOPIC", defaults.Topic},
		{"broadcast-port", "BROADCAST_PORT", fmt.Sprint(defaults.DiscoveryPort)},
		{"hb-interval", "", sec(defaults.ClientHB)},
		{"hb-timeout", "", sec(defaults.ClientHBTimeout)},
		{"reconnect-attempts", "", fmt.Sprint(defaults.ReconnectAttempts)},
		{"reconnect-delay", "", sec(defaults.ReconnectDelay)},
		{"max-frame", "MAX_FRAME", fmt.Sprint(defaults.MaxFrame)},
	}
}

// checkFlags checks each setting's flag: its value, its environment variable
// and its line in --help.
func checkFlags(t *testing.T, app *cli.App, args0 string, settings []setting) {
	t.Helper()
	flags := map[string]cli.Flag{}
	for _, f := range app.Flags {
		flags[f.Names()[0]] = f
	}
	var help bytes.Buffer
	app.Writer, app.ErrWriter = &help, &help
	if err := app.Run([]string{args0, "--help"}); err != nil {
		t.Fatalf("%s --help: %v", args0, err)
	}
	lines := strings.Split(help.String(), "\n")
	for _, s := range settings {
		f, ok := flags[s.flag]
		if !ok {
			t.Errorf("%s: no flag --%s", args0, s.flag)
			continue
		}
		df := f.(cli.DocGenerationFlag)
		if got := strings.Trim(df.GetValue(), `"`); got != s.want {
			t.Errorf("%s --%s: default %q, pkg/defaults says %q", args0, s.flag, got, s.want)
		}
		if s.env != "" && !slicesContain(df.GetEnvVars(), s.env) {
			t.Errorf("%s --%s: environment %v, want %s", args0, s.flag, df.GetEnvVars(), s.env)
		}
		found := false
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "--"+s.flag+" ") {
				found = true
				if !strings.Contains(l, "(default: "+s.want+")") && !strings.Contains(l, `(default: "`+s.want+`")`) {
					t.Errorf("%s --help: %q does not show default %s", args0, strings.TrimSpace(l), s.want)
				}
				if s.env != "" && !strings.Contains(l, "$"+s.env) {
					t.Errorf("%s --help: %q does not name $%s", args0, strings.TrimSpace(l), s.env)
				}
			}
		}
		if !found {
			t.Errorf("%s --help: no line for --%s", args0, s.flag)
		}
	}
}

func slicesContain(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestDefaultsAgree: the broker's and the clients' flags, environment
// variables and --help show pkg/defaults' values, and so does the README's
// configuration table.
func TestDefaultsAgree(t *testing.T) {
	checkFlags(t, brokerApp(), "logstream", brokerSettings())
	checkFlags(t, producerApp(strings.NewReader("")), "producer", clientSettings())
	checkFlags(t, consumerApp(), "consumer", clientSettings())

	// The broker's Config (what the flags fill) starts from the same values.
	d := broker.DefaultConfig()
	if d.MaxFrame != defaults.MaxFrame || d.MaxRecords != defaults.MaxRecordsPerTopic || d.FailureTimeout != defaults.FailureTimeout ||
		d.BroadcastPort != defaults.DiscoveryPort || d.Multicast.String() != defaults.MulticastGroup {
		t.Errorf("broker.DefaultConfig() differs from pkg/defaults: %+v", d)
	}
	if topiclog.MaxTopicName != defaults.MaxTopicName {
		t.Errorf("topiclog.MaxTopicName = %d", topiclog.MaxTopicName)
	}
}

// TestReadmeDefaults: every row of the README's configuration table that
// names a variable with a default agrees with pkg/defaults, and so do the
// defaults the README states in its prose.
func TestReadmeDefaults(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	conf, _, _ := strings.Cut(readme[strings.Index(readme, "\n## Configuration"):][1:], "\n## ")
	want := map[string]string{}
	for _, s := range brokerSettings() {
		want[s.env] = s.want
	}
	// | `VAR` / `--flag` | default | meaning |, or | `VAR` | default | meaning |
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)`[^|]*\\| ([^|]+) \\|")
	seen := 0
	for _, m := range row.FindAllStringSubmatch(conf, -1) {
		w, ok := want[m[1]]
		if !ok {
			continue
		}
		seen++
		if got := strings.Trim(m[2], "` "); got != w {
			t.Errorf("README: %s default %q, pkg/defaults says %q", m[1], got, w)
		}
	}
	if seen < 6 {
		t.Errorf("README: only %d configuration rows found; has the table moved?", seen)
	}
	// Every broker variable is documented: in the manual's table or in the
	// README's configuration section.
	manual, err := os.ReadFile("../../testdata/CLI_MANUAL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range brokerSettings() {
		if !strings.Contains(conf, "`"+s.env+"`") && !strings.Contains(string(manual), "| `"+s.env+"` |") {
			t.Errorf("%s is documented neither in the manual nor in the README's configuration section", s.env)
		}
	}
	for _, prose := range []string{
		fmt.Sprintf("(default %d, `0` = unlimited)", defaults.MaxRecordsPerTopic),
		fmt.Sprintf("Topic names are 1–%d characters", defaults.MaxTopicName),
		fmt.Sprintf("(`--broadcast-port`, default %d)", defaults.DiscoveryPort),
		fmt.Sprintf("port %d)", defaults.BrokerPort),
	} {
		if !strings.Contains(readme, prose) {
			t.Errorf("README does not say %q", prose)
		}
	}
}

// The clients' --port states its default once, in words: written into the
// usage text as well as shown by the parser it read "(...; default any)
// (default: 0)".
func TestHelpStatesThePortDefaultOnce(t *testing.T) {
	for name, app := range map[string]*cli.App{"producer": producerApp(strings.NewReader("")), "consumer": consumerApp()} {
		var help bytes.Buffer
		app.Writer, app.ErrWriter = &help, &help
		if err := app.Run([]string{name, "--help"}); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, l := range strings.Split(help.String(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "--port ") {
				found = true
				if strings.Count(l, "default") != 1 || !strings.Contains(l, "(default: any)") {
					t.Errorf("%s --help: %q; want the default once, as (default: any)", name, strings.TrimSpace(l))
				}
			}
		}
		if !found {
			t.Errorf("%s --help: no --port line", name)
		}
	}
}
