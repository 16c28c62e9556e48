package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Shared consumer groups over the test network: several consumers with one
// -group split a topic; a member killed -9 or a broker killed -9 loses no
// record (what was unacknowledged is delivered again, to someone).

// printed parses what a consumer printed so far, ignoring a last line cut
// short (a process killed mid-write, or one still printing).
func printed(t *testing.T, p *proc) []jsonRecord {
	t.Helper()
	out := p.stdout.String()
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		out = ""
	}
	return records(t, out)
}

// tally counts how often each offset was printed by any of ps, checking
// every payload.
func tally(t *testing.T, ps ...*proc) map[uint64]int {
	t.Helper()
	seen := map[uint64]int{}
	for _, p := range ps {
		for _, r := range printed(t, p) {
			if want := fmt.Sprintf("rec-%d", r.Offset+1); r.Payload != want {
				t.Fatalf("%s printed offset %d with payload %q, want %q", p.name, r.Offset, r.Payload, want)
			}
			seen[r.Offset]++
		}
	}
	return seen
}

// waitCovered waits (bounded) until ps together printed offsets 0..n-1.
func waitCovered(t *testing.T, n int, d time.Duration, ps ...*proc) map[uint64]int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		seen := tally(t, ps...)
		missing := -1
		for o := 0; o < n; o++ {
			if seen[uint64(o)] == 0 {
				missing = o
				break
			}
		}
		if missing < 0 {
			return seen
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range ps {
				fmt.Fprintf(&logs, "--- %s (%d records):\n%s\n", p.name, len(printed(t, p)), tail(p.stderr.String(), 8))
			}
			t.Fatalf("after %s offset %d was printed by no member\n%s", d, missing, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling output, bounded above
	}
}

func startMembers(t *testing.T, c *cluster3, group string, hosts ...int) []*proc {
	t.Helper()
	env := []string{"LOGSTREAM_HOME=" + c.home}
	args := append(append([]string{}, groupFlags...), "-group", group, "-analytics=false", "-format", "json")
	var ms []*proc
	for _, h := range hosts {
		ms = append(ms, start(t, c.net.Host(h), env, "consumer", args...))
	}
	for _, m := range ms {
		m.waitLog("joined the group", 30*time.Second)
	}
	return ms
}

// midStream fails the test if a fault came too late to matter: when the
// members had already printed nearly the whole stream.
func midStream(t *testing.T, n int, ms ...*proc) {
	t.Helper()
	if k := len(tally(t, ms...)); k > n-n/10 {
		t.Fatalf("the fault came after %d of %d records: too late to test anything", k, n)
	}
}

// checkSplit checks that no offset in seen was printed twice and that
// every member printed some.
func checkSplit(t *testing.T, seen map[uint64]int, ms []*proc) {
	t.Helper()
	for o, k := range seen {
		if k != 1 {
			t.Fatalf("offset %d printed %d times before any fault, want once", o, k)
		}
	}
	var split []string
	for _, m := range ms {
		n := len(printed(t, m))
		if n == 0 {
			t.Fatalf("member %s printed nothing: the group did not split the topic", m.name)
		}
		split = append(split, fmt.Sprintf("%s %d", m.name, n))
	}
	t.Logf("split before faults: %s", strings.Join(split, ", "))
}

// TestSharedGroupThreeMembers: three members split a stream, each record to
// one member; then one member is killed -9 and later the leader: every
// record is still printed by some member.
func TestSharedGroupThreeMembers(t *testing.T) {
	c := startCluster(t, 6, 3)
	ms := startMembers(t, c, "team", 3, 4, 5)
	const n = 6000
	produced := pacedProducer(t, c, n, 100*time.Millisecond)
	// Let the group split a third of the stream with no fault.
	waitCovered(t, n/3, 60*time.Second, ms...)
	checkSplit(t, tally(t, ms...), ms)

	t.Logf("kill -9 member %s", ms[2].name)
	ms[2].signal(syscall.SIGKILL)
	ms[2].wait(10 * time.Second)
	midStream(t, n, ms...)
	waitCovered(t, n/2, 60*time.Second, ms...)
	l := c.leaderIndex(t)
	t.Logf("kill -9 broker %d (leader)", l)
	c.brokers[l].signal(syscall.SIGKILL)
	midStream(t, n, ms...)

	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	seen := waitCovered(t, n, 90*time.Second, ms...)
	again := 0
	for _, k := range seen {
		again += k - 1
	}
	t.Logf("all %d records printed; %d printed again after the faults", n, again)
	for _, m := range ms[:2] {
		m.signal(syscall.SIGTERM)
		if err := m.wait(30 * time.Second); err != nil {
			t.Fatalf("%s after SIGTERM: %v\n%s", m.name, err, tail(m.stderr.String(), 20))
		}
	}
}

// TestSharedGroupTwoMembers: two members split the topic and logstreamctl
// shows both; a third joins and one leaves (SIGTERM) mid-stream, then the
// topic's owner is killed -9, then every broker at once (restarted with its
// data): nothing is lost, and a clean leave hands its records over without
// duplicates.
func TestSharedGroupTwoMembers(t *testing.T) {
	c := startCluster(t, 6, 3)
	ms := startMembers(t, c, "pair", 3, 4)
	const n = 8000
	produced := pacedProducer(t, c, n, 150*time.Millisecond)
	waitCovered(t, n/5, 60*time.Second, ms...)
	checkSplit(t, tally(t, ms...), ms)

	env := []string{"LOGSTREAM_HOME=" + c.home}
	ctl := start(t, c.net.Host(5), env, "logstreamctl", "groups", "--json", "--broker", c.net.Host(0).IP.String()+":8001")
	if err := ctl.wait(30 * time.Second); err != nil {
		t.Fatalf("logstreamctl groups: %v\n%s", err, ctl.stderr.String())
	}
	var out struct {
		Groups []struct {
			Group, Topic string
			Members      []struct{ ID, Addr string }
		}
	}
	if err := json.Unmarshal([]byte(ctl.stdout.String()), &out); err != nil {
		t.Fatalf("groups --json: %v\n%s", err, ctl.stdout.String())
	}
	live := -1
	for _, g := range out.Groups {
		if g.Group == "pair" && g.Topic == "logs" {
			live = len(g.Members)
		}
	}
	if live != 2 {
		t.Fatalf("logstreamctl groups shows %d live members of pair/logs, want 2:\n%s", live, ctl.stdout.String())
	}

	// Rebalance: a third member joins, then the first leaves cleanly.
	ms = append(ms, startMembers(t, c, "pair", 5)...)
	ms[0].signal(syscall.SIGTERM)
	if err := ms[0].wait(30 * time.Second); err != nil {
		t.Fatalf("%s after SIGTERM: %v", ms[0].name, err)
	}
	waitCovered(t, n/2, 60*time.Second, ms...)
	before := tally(t, ms...)
	for o, k := range before {
		if k != 1 {
			t.Fatalf("offset %d printed %d times across a clean join and leave, want once", o, k)
		}
	}
	o := c.ownerIndex(t, "logs")
	t.Logf("kill -9 broker %d (owner of logs)", o)
	c.brokers[o].signal(syscall.SIGKILL)
	midStream(t, n, ms...)
	c.brokers[o].wait(10 * time.Second)
	c.brokers[o] = c.startBroker(t, o)
	waitCovered(t, n*6/10, 60*time.Second, ms...)
	t.Log("kill -9 every broker, then restart them all")
	for _, b := range c.brokers {
		b.signal(syscall.SIGKILL)
	}
	for i := range c.brokers {
		c.brokers[i].wait(10 * time.Second)
	}
	midStream(t, n, ms...)
	for i := range c.brokers {
		c.brokers[i] = c.startBroker(t, i)
	}
	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	seen := waitCovered(t, n, 90*time.Second, ms...)
	again := 0
	for _, k := range seen {
		again += k - 1
	}
	t.Logf("all %d records printed; %d printed again after the owner's failover and the whole cluster's restart", n, again)
}
