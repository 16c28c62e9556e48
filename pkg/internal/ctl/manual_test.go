package ctl

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/defaults"
)

var update = flag.Bool("update", false, "rewrite testdata/manual_lines.txt from the manual")

const manualPath = "../../../testdata/CLI_MANUAL.md" // the manual, as the repository carries it

var inlineCmdRE = regexp.MustCompile("`(\\./logstreamctl[^`]*)`")

// extractManualLines returns every ./logstreamctl command line of the
// manual: "code\t<line>" for lines in code blocks, "table\t<line>" for the
// inline ones of the command reference table.
func extractManualLines(md string) []string {
	var out []string
	inCode := false
	for _, l := range strings.Split(md, "\n") {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "```") {
			inCode = !inCode
			continue
		}
		if inCode {
			if strings.HasPrefix(tl, "./logstreamctl ") || tl == "./logstreamctl" {
				out = append(out, "code\t"+tl)
			}
			continue
		}
		for _, m := range inlineCmdRE.FindAllStringSubmatch(l, -1) {
			out = append(out, "table\t"+m[1])
		}
	}
	return out
}

// manualLines reads the manual when it is there (keeping the testdata copy
// in step with -update) and the testdata copy otherwise (CI).
func manualLines(t *testing.T) []string {
	t.Helper()
	copyPath := filepath.Join("testdata", "manual_lines.txt")
	if b, err := os.ReadFile(manualPath); err == nil {
		lines := extractManualLines(string(b))
		if *update {
			if err := os.WriteFile(copyPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if saved, err := os.ReadFile(copyPath); err == nil && strings.TrimSpace(string(saved)) != strings.Join(lines, "\n") {
			t.Logf("testdata/manual_lines.txt differs from %s; run go test -run TestManual -update", manualPath)
		}
		return lines
	}
	b, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// splitWords splits a shell command line (plain words, "double" and
// 'single' quotes).
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
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
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// lineFlags turns "--x v --y" into {x: v, y: ""} using which flags are
// boolean, as the manual's options tables say (independent of the code).
func lineFlags(words []string) (map[string]string, []string) {
	bools := map[string]bool{"background": true, "no-analytics": true, "follow": true, "all": true}
	flags := map[string]string{}
	var pos []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "--") {
			name := w[2:]
			if bools[name] || i+1 == len(words) {
				flags[name] = ""
				continue
			}
			flags[name] = words[i+1]
			i++
			continue
		}
		pos = append(pos, w)
	}
	return flags, pos
}

func envValue(env []string, key string) (string, bool) {
	v, ok := "", false
	for _, kv := range env {
		if k, val, found := strings.Cut(kv, "="); found && k == key {
			v, ok = val, true
		}
	}
	return v, ok
}

func hasArg(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

// Broker flags and the environment variable each must become (the roles'
// contract, restated here independently of start.go).
var brokerEnvWant = map[string]string{
	"name": "NODE_NAME", "address": "NODE_ADDRESS", "multicast": "MULTICAST_GROUP",
	"broadcast-port": "BROADCAST_PORT", "leader": "LEADER_ADDRESS", "max-records": "MAX_RECORDS_PER_TOPIC",
	"broker-hb-interval": "BROKER_HB_INTERVAL", "client-hb-interval": "CLIENT_HB_INTERVAL",
	"broker-timeout": "BROKER_TIMEOUT", "client-timeout": "CLIENT_TIMEOUT",
	"follower-hb-interval": "FOLLOWER_HB_INTERVAL", "suspicion-timeout": "SUSPICION_TIMEOUT",
	"failure-timeout": "FAILURE_TIMEOUT",
}

var clientArgFlags = map[string]bool{
	"name": true, "leader": true, "topic": true, "port": true, "address": true, "rate": true,
	"interval": true, "count": true, "message": true, "hb-interval": true, "hb-timeout": true,
	"reconnect-attempts": true, "reconnect-delay": true, "window": true,
}

func checkStart(t *testing.T, line string, kind string, flags map[string]string, spec childSpec) {
	t.Helper()
	if spec.Type != kind || len(spec.Args) == 0 || spec.Args[0] != kind || spec.Path != "/opt/logstream/logstream" {
		t.Errorf("%s: spec %+v", line, spec)
		return
	}
	_, bg := flags["background"]
	if spec.Background != bg {
		t.Errorf("%s: background = %v", line, spec.Background)
	}
	if bg && spec.LogPath == "" {
		t.Errorf("%s: background without log path", line)
	}
	for f, v := range flags {
		if f == "background" {
			continue
		}
		switch kind {
		case "broker":
			key, ok := brokerEnvWant[f]
			if !ok {
				t.Errorf("%s: test does not know broker flag --%s", line, f)
				continue
			}
			if got, _ := envValue(spec.Env, key); got != v {
				t.Errorf("%s: %s = %q, want %q (env %v)", line, key, got, v, spec.Env)
			}
		default:
			switch {
			case f == "no-analytics":
				if !hasArg(spec.Args, "-analytics=false") {
					t.Errorf("%s: no -analytics=false in %v", line, spec.Args)
				}
			case clientArgFlags[f]:
				if !hasArg(spec.Args, "-"+f+"="+v) {
					t.Errorf("%s: no -%s=%s in %v", line, f, v, spec.Args)
				}
			default:
				t.Errorf("%s: test does not know %s flag --%s", line, kind, f)
			}
		}
	}
	if kind == "broker" {
		if _, ok := flags["address"]; !ok {
			if got, _ := envValue(spec.Env, "NODE_ADDRESS"); got != "8001" {
				t.Errorf("%s: NODE_ADDRESS = %q, want 8001 (auto IP, default port)", line, got)
			}
		}
	} else if _, ok := flags["topic"]; !ok && !hasArg(spec.Args, "-topic=logs") {
		t.Errorf("%s: default topic not passed: %v", line, spec.Args)
	}
}

// TestManualCommandLines runs every logstreamctl line of the manual through
// the real parser, with a fake launcher and intercepted side effects, and
// checks what each line asked for.
func TestManualCommandLines(t *testing.T) {
	lines := manualLines(t)
	if len(lines) < 50 {
		t.Fatalf("only %d manual lines found", len(lines))
	}
	r := newRig(t)
	var got any
	r.env.intercept = func(opts any) (bool, error) { got = opts; return true, nil }
	for _, entry := range lines {
		where, line, _ := strings.Cut(entry, "\t")
		words := splitWords(strings.ReplaceAll(line, "<name>", "node1"))
		args := words[1:]
		got = nil
		before := r.launcher.count()
		r.out.Reset()
		r.err.Reset()
		code := r.run(args...)
		flags, pos := lineFlags(args)

		if where == "table" && len(pos) == 2 && pos[0] == "start" {
			// The reference table names the command without --name.
			if code != 2 || !strings.Contains(r.err.String(), "--name is required") {
				t.Errorf("%s: code %d, stderr %q; want usage error naming --name", line, code, r.err.String())
			}
			continue
		}
		if code != 0 {
			t.Errorf("%s: exit %d, stderr %q", line, code, r.err.String())
			continue
		}
		switch pos[0] {
		case "start":
			if r.launcher.count() != before+1 {
				t.Errorf("%s: nothing launched", line)
				continue
			}
			checkStart(t, line, pos[1], flags, r.launcher.last())
			continue
		case "help":
			if !strings.Contains(r.out.String(), "start") {
				t.Errorf("%s: help output %q", line, r.out.String())
			}
			continue
		}
		var want any
		switch pos[0] {
		case "stop":
			_, all := flags["all"]
			want = stopOptions{Names: pos[1:], All: all, Grace: 5 * time.Second}
			if all {
				want = stopOptions{All: true, Grace: 5 * time.Second}
			}
		case "list":
			want = listOptions{}
		case "logs":
			lo := logsOptions{Name: pos[1], Lines: 50}
			if v, ok := flags["lines"]; ok {
				lo.Lines = atoi(t, v)
			}
			_, lo.Follow = flags["follow"]
			want = lo
		case "status":
			want = statusOptions{Interval: 2 * time.Second, Timeout: 2 * time.Second, BroadcastPort: defaults.DiscoveryPort}
		case "election":
			want = electionOptions{Name: pos[1], Timeout: 3 * time.Second}
		case "config":
			want = configOptions{Action: pos[1]}
		default:
			t.Errorf("%s: test does not know command %q", line, pos[0])
			continue
		}
		if so, ok := got.(stopOptions); ok && len(so.Names) == 0 {
			so.Names = nil
			got = so
		}
		if w, ok := want.(stopOptions); ok && len(w.Names) == 0 {
			w.Names = nil
			want = w
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: parsed %#v, want %#v", line, got, want)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
