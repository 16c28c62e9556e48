package e2e

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// manualGreps returns the grep lines of the manual's "Log Analysis" section,
// keyed by the word each one looks for.
func manualGreps(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "CLI_MANUAL.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### Log Analysis")
	if i < 0 {
		t.Fatal("the manual has no Log Analysis section")
	}
	greps := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s[i:]))
	for n := 0; sc.Scan() && n < 60; n++ {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "### ") && n > 0 {
			break
		}
		if strings.HasPrefix(l, "grep ") && strings.HasSuffix(l, " node.log") {
			q := regexp.MustCompile(`"([^"]+)"`).FindStringSubmatch(l)
			if q == nil {
				t.Fatalf("cannot read the manual's grep line %q", l)
			}
			greps[q[1]] = l
		}
	}
	return greps
}

// grepNodeLog runs one of the manual's grep lines, as written, in a
// directory whose node.log is log.
func grepNodeLog(t *testing.T, line, log string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return "" // grep found nothing
	} else if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return string(out)
}

// The manual's troubleshooting greps, run against the broker logs of a
// scripted failover (three brokers, a producer, a consumer, kill -9 of the
// leader mid-stream), each find the events they are for, at the default
// log level and without a line per message.
func TestManualLogGrepsFindTheirEvents(t *testing.T) {
	greps := manualGreps(t)
	for _, w := range []string{"HEARTBEAT", "REPLICATE", "PRODUCE|CONSUME|SUBSCRIBE", "ClusterState", "LEADER FAILURE", "STATE_EXCHANGE|VIEW_INSTALL"} {
		if greps[w] == "" {
			t.Fatalf("the manual has no grep for %q (found %v)", w, greps)
		}
	}
	c := startCluster(t, 5, 3)
	var leader int
	const n = 4000
	streamThroughFault(t, c, n, func() {
		leader = c.leaderIndex(t)
		t.Logf("kill -9 broker %d (leader)", leader)
		c.brokers[leader].signal(9)
	})
	leaderAddr := netip.AddrPortFrom(c.net.Host(leader).IP, 8001).String()
	var survivors []*proc
	for i, b := range c.brokers {
		if i != leader {
			survivors = append(survivors, b)
		}
	}
	// The periodic summary comes every 6 heartbeat intervals (6 s here).
	for _, b := range survivors {
		waitLogMatch(t, b, func(s string) bool { return strings.Contains(s, "HEARTBEAT summary") }, 20*time.Second, "HEARTBEAT summary")
	}

	for _, b := range survivors {
		log := b.stderr.String()
		hb := grepNodeLog(t, greps["HEARTBEAT"], log)
		mustFind(t, b.name, greps["HEARTBEAT"], hb,
			"HEARTBEAT from "+leaderAddr+"#", // the leader's heartbeats started...
			"started",
			"HEARTBEAT summary",
		)
		if !regexp.MustCompile(`HEARTBEAT (from|to) ` + regexp.QuoteMeta(leaderAddr) + `#\d+ (stopped|suspected)`).MatchString(hb) {
			t.Errorf("%s: %q finds no line saying the dead leader's heartbeats stopped:\n%s", b.name, greps["HEARTBEAT"], hb)
		}
		notFlooded(t, b.name, "HEARTBEAT", hb, 40)
		t.Logf("%s, %s:\n%s", b.name, greps["HEARTBEAT"], hb)
		rep := grepNodeLog(t, greps["REPLICATE"], log)
		mustFind(t, b.name, greps["REPLICATE"], rep, "REPLICATE logs: ")
		notFlooded(t, b.name, "REPLICATE", rep, 40)
		t.Logf("%s, %s:\n%s", b.name, greps["REPLICATE"], rep)
		for _, w := range []string{"ClusterState", "STATE_EXCHANGE|VIEW_INSTALL"} {
			mustFind(t, b.name, greps[w], grepNodeLog(t, greps[w], log), "")
		}
	}
	// A survivor that heard of the failure first from the other's ELECTION
	// need not say LEADER FAILURE itself; one of them does.
	var failures string
	for _, b := range survivors {
		failures += grepNodeLog(t, greps["LEADER FAILURE"], b.stderr.String())
	}
	mustFind(t, "the survivors", greps["LEADER FAILURE"], failures, leaderAddr)
	// A producer and a consumer after the failover, so that their whole
	// sessions are on live brokers (the ones above may have ended with the
	// dead leader). Their brokers log the ends once they notice the
	// connections closed.
	flags := []string{"-topic", "logs", "-reconnect-delay", "1", "-reconnect-attempts", "30"}
	env := []string{"LOGSTREAM_HOME=" + c.home}
	if err := start(t, c.net.Host(3), env, "producer", append(flags, "-rate", "1000", "-count", "100")...).wait(60 * time.Second); err != nil {
		t.Fatalf("producer after the failover: %v", err)
	}
	if err := start(t, c.net.Host(4), env, "consumer", append(flags, "-analytics=false", "-exit-at-end")...).wait(60 * time.Second); err != nil {
		t.Fatalf("consumer after the failover: %v", err)
	}
	anyLogs(t, survivors, "PRODUCE ended", 10*time.Second)
	anyLogs(t, survivors, "CONSUME ended", 10*time.Second)
	checkNames(t, c, survivors)
	// Clients connect to the topic's owner: the events are in some
	// survivor's log.
	var clients string
	for _, b := range survivors {
		out := grepNodeLog(t, greps["PRODUCE|CONSUME|SUBSCRIBE"], b.stderr.String())
		notFlooded(t, b.name, "PRODUCE|CONSUME|SUBSCRIBE", out, 40)
		clients += out
	}
	t.Logf("all brokers, %s:\n%s", greps["PRODUCE|CONSUME|SUBSCRIBE"], clients)
	mustFind(t, "the brokers", greps["PRODUCE|CONSUME|SUBSCRIBE"], clients,
		"PRODUCE started: ", "PRODUCE ended: ", "records acknowledged",
		"SUBSCRIBE: CONSUME started: ", "CONSUME ended: ", "records delivered")
}

func mustFind(t *testing.T, who, grep, out string, wants ...string) {
	t.Helper()
	if strings.TrimSpace(out) == "" {
		t.Errorf("%s: %q finds nothing", who, grep)
		return
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: %q finds no %q in:\n%s", who, grep, w, tail(out, 30))
		}
	}
}

// notFlooded fails if a grep finds more lines than a minute-long run has
// events for: per-message lines belong at debug.
func notFlooded(t *testing.T, who, word, out string, most int) {
	t.Helper()
	if k := strings.Count(out, "\n"); k > most {
		t.Errorf("%s: grep %s finds %d lines, more than the %d events of this run: %s", who, word, k, most, fmt.Sprint(tail(out, 10)))
	}
}

// anyLogs waits until some broker's log holds s.
func anyLogs(t *testing.T, brokers []*proc, s string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); ; {
		for _, b := range brokers {
			if strings.Contains(b.stderr.String(), s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no broker logged %q within %s", s, d)
		}
		time.Sleep(20 * time.Millisecond) // polling logs, bounded by the deadline
	}
}

// checkNames: ClusterState lines name the brokers (this one by NODE_NAME and
// address, peers by address, each with an id tail), no JSON field holds an
// id as a number above 2^53, and `logstreamctl status` with no broker
// managed here finds the cluster by broadcast and shows every member by name.
func checkNames(t *testing.T, c *cluster3, survivors []*proc) {
	t.Helper()
	bigNumber := regexp.MustCompile(`":\d{16,}[,}]`)
	for i, b := range c.brokers {
		log := b.stderr.String()
		self := fmt.Sprintf("node%d@%s#", i+1, netip.AddrPortFrom(c.net.Host(i).IP, 8001))
		if !regexp.MustCompile(`ClusterState [^"]*leader=[^"]*` + regexp.QuoteMeta(self)).MatchString(log) {
			t.Errorf("%s: no ClusterState line names it %s…", b.name, self)
		}
		if m := bigNumber.FindString(log); m != "" {
			t.Errorf("%s: a JSON log field holds a number above 2^53: %s", b.name, m)
		}
	}
	ctl := start(t, c.net.Host(3), []string{"LOGSTREAM_HOME=" + t.TempDir()}, "logstreamctl", "status")
	if err := ctl.wait(30 * time.Second); err != nil {
		t.Fatalf("logstreamctl status: %v\n%s", err, ctl.stderr.String())
	}
	out := ctl.stdout.String()
	for _, w := range []string{"found by broadcast", "CLUSTER (as reported by"} {
		if !strings.Contains(out, w) {
			t.Errorf("logstreamctl status lacks %q:\n%s", w, out)
		}
	}
	for i, b := range c.brokers {
		if slices.Contains(survivors, b) && !strings.Contains(out, fmt.Sprintf("node%d", i+1)) {
			t.Errorf("logstreamctl status does not name node%d:\n%s", i+1, out)
		}
	}
}
