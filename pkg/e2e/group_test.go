package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// groupFlags are the client flags of the consumer-group tests: quick to
// notice a dead broker, patient to reconnect.
var groupFlags = []string{"-topic", "logs", "-reconnect-delay", "1", "-reconnect-attempts", "60", "-hb-interval", "1", "-hb-timeout", "3"}

// pacedProducer writes rec-1..rec-n to a producer on host 3, 100 records
// every pause; it returns a channel that yields once the producer has had
// every record acknowledged.
func pacedProducer(t *testing.T, c *cluster3, n int, pause time.Duration) <-chan error {
	t.Helper()
	prod := start(t, c.net.Host(3), []string{"LOGSTREAM_HOME=" + c.home}, "producer", groupFlags...)
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := fmt.Fprintf(prod.stdin, "rec-%d\n", i); err != nil {
				done <- err
				return
			}
			if i%100 == 0 {
				time.Sleep(pause) // pacing, so the consumers' restarts land mid-stream
			}
		}
		if err := prod.stdin.Close(); err != nil {
			done <- err
			return
		}
		done <- prod.wait(120 * time.Second)
	}()
	return done
}

// groupRun is one run of a grouped consumer and what it printed.
type groupRun struct {
	how  string // how it ended: "term", "kill", "end"
	recs []jsonRecord
}

// checkGroupRuns checks that the runs together delivered offsets 0..n-1 with
// the right payloads, in order within each run, with no gap between runs;
// a run that ended cleanly is followed exactly where it stopped, one killed
// (-9) may be followed by at most maxAgain of its records again.
func checkGroupRuns(t *testing.T, runs []groupRun, n int, maxAgain int) {
	t.Helper()
	next := uint64(0)  // first offset nobody delivered yet
	clean := true      // the previous run ended cleanly
	var lastEnd uint64 // offset after the previous run's last record
	again := 0
	for i, r := range runs {
		for j, rec := range r.recs {
			if want := fmt.Sprintf("rec-%d", rec.Offset+1); rec.Payload != want {
				t.Fatalf("run %d record %d: offset %d payload %q, want %q", i, j, rec.Offset, rec.Payload, want)
			}
			if j > 0 && rec.Offset != r.recs[j-1].Offset+1 {
				t.Fatalf("run %d: offset %d after %d", i, rec.Offset, r.recs[j-1].Offset)
			}
		}
		if len(r.recs) == 0 {
			continue
		}
		first := r.recs[0].Offset
		switch {
		case first > next:
			t.Fatalf("run %d starts at offset %d: records %d..%d were never delivered", i, first, next, first-1)
		case clean && first != lastEnd && lastEnd != 0:
			t.Fatalf("run %d starts at offset %d after a clean stop at %d", i, first, lastEnd)
		case first < next:
			again += int(next - first)
			if clean || int(next-first) > maxAgain {
				t.Fatalf("run %d starts at offset %d: %d records delivered again (after %s)", i, first, next-first, runs[i-1].how)
			}
		}
		lastEnd = r.recs[len(r.recs)-1].Offset + 1
		next = max(next, lastEnd)
		clean = r.how != "kill"
	}
	if next != uint64(n) {
		t.Fatalf("the runs delivered offsets up to %d, want %d", next, n)
	}
	t.Logf("%d runs delivered all %d records; %d delivered again after kill -9", len(runs), n, again)
}

// TestGroupResumesExactlyOnce stops and restarts a grouped consumer many
// times while a producer streams: SIGTERM (as logstreamctl stop does) hands
// over exactly; kill -9 of the consumer repeats at most its last batch; kill
// -9 of the leader in the middle of a run loses nothing; a final run with
// -exit-at-end reads the rest.
func TestGroupResumesExactlyOnce(t *testing.T) {
	c := startCluster(t, 5, 3)
	const n = 12000
	produced := pacedProducer(t, c, n, 150*time.Millisecond)
	env := []string{"LOGSTREAM_HOME=" + c.home}
	args := append(append([]string{}, groupFlags...), "-group", "g1", "-analytics=false", "-format", "json")
	var runs []groupRun
	total := 0
	leaderKilled := false
	for i := 0; i < 10; i++ {
		cons := start(t, c.net.Host(4), env, "consumer", args...)
		// Let it print something (bounded; it may be caught up), then end it.
		waitSome(cons, 1, 10*time.Second)
		time.Sleep(400 * time.Millisecond) // a run of some length, mid-stream
		how := "term"
		switch i {
		case 3:
			l := c.leaderIndex(t)
			t.Logf("run %d: kill -9 broker %d (leader)", i, l)
			c.brokers[l].signal(syscall.SIGKILL)
			leaderKilled = true
			if !waitSome(cons, strings.Count(cons.stdout.String(), `"type":"record"`)+1, 60*time.Second) {
				t.Fatal("the consumer printed nothing after the leader was killed")
			}
		case 5, 8:
			how = "kill"
		}
		if how == "kill" {
			cons.signal(syscall.SIGKILL)
		} else {
			cons.signal(syscall.SIGTERM)
		}
		err := cons.wait(30 * time.Second)
		if how == "term" && err != nil {
			t.Fatalf("run %d: consumer after SIGTERM: %v\n%s", i, err, tail(cons.stderr.String(), 20))
		}
		recs := records(t, cons.stdout.String())
		total += len(recs)
		t.Logf("run %d (%s): %d records", i, how, len(recs))
		runs = append(runs, groupRun{how: how, recs: recs})
	}
	if !leaderKilled {
		t.Fatal("the leader was never killed")
	}
	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	last := start(t, c.net.Host(4), env, "consumer", append(args, "-exit-at-end")...)
	if err := last.wait(60 * time.Second); err != nil {
		t.Fatalf("final run: %v\n%s", err, tail(last.stderr.String(), 20))
	}
	runs = append(runs, groupRun{how: "end", recs: records(t, last.stdout.String())})
	// A killed consumer repeats at most what it printed in the last
	// acknowledgement interval plus the batch it was printing (at most a
	// 1000-record batch here).
	checkGroupRuns(t, runs, n, 1500)
}

// waitSome waits up to d until the consumer printed at least n records.
func waitSome(p *proc, n int, d time.Duration) bool {
	for deadline := time.Now().Add(d); strings.Count(p.stdout.String(), `"type":"record"`) < n; {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling output, bounded above
	}
	return true
}

// TestGroupsVisibleAndDeletable: logstreamctl status --json and groups show
// a group's position and lag; groups delete forgets it, so the group's next
// consumer starts at the beginning again.
func TestGroupsVisibleAndDeletable(t *testing.T) {
	c := startCluster(t, 3, 1)
	env := []string{"LOGSTREAM_HOME=" + c.home}
	broker := []string{"--broker", c.net.Host(0).IP.String() + ":8001"}
	prod := start(t, c.net.Host(1), env, "producer", append(groupFlags, "-rate", "1000", "-count", "300")...)
	if err := prod.wait(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	cons := start(t, c.net.Host(2), env, "consumer", append(groupFlags, "-group", "billing", "-analytics=false", "-format", "json", "-count", "120")...)
	if err := cons.wait(60 * time.Second); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	ctl := func(args ...string) string {
		t.Helper()
		p := start(t, c.net.Host(2), env, "logstreamctl", args...)
		if err := p.wait(30 * time.Second); err != nil {
			t.Fatalf("logstreamctl %v: %v\n%s", args, err, p.stderr.String())
		}
		return p.stdout.String()
	}
	var st struct {
		Groups []struct {
			Group, Topic  string
			Position, Lag uint64
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(ctl(append([]string{"status", "--json"}, broker...)...)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Groups) != 1 || st.Groups[0].Group != "billing" || st.Groups[0].Topic != "logs" || st.Groups[0].Position != 120 || st.Groups[0].Lag != 180 {
		t.Fatalf("status groups = %+v, want billing/logs at 120 with lag 180", st.Groups)
	}
	if out := ctl(append([]string{"groups"}, broker...)...); !strings.Contains(out, "billing") || !strings.Contains(out, "180") {
		t.Fatalf("groups:\n%s", out)
	}
	// A group that does not exist is refused in one line, not reported deleted.
	nosuch := start(t, c.net.Host(2), env, "logstreamctl", append([]string{"groups", "delete", "nosuch"}, broker...)...)
	if err := nosuch.wait(30 * time.Second); err == nil || strings.Contains(nosuch.stdout.String(), "deleted") ||
		!strings.Contains(nosuch.stderr.String(), `no consumer group named "nosuch"`) || strings.Count(strings.TrimSpace(nosuch.stderr.String()), "\n") != 0 {
		t.Fatalf("groups delete nosuch: %v\nstdout: %s\nstderr: %s", err, nosuch.stdout.String(), nosuch.stderr.String())
	}
	if out := ctl(append([]string{"groups", "delete", "billing"}, broker...)...); !strings.Contains(out, "deleted") {
		t.Fatalf("groups delete: %s", out)
	}
	if out := ctl(append([]string{"groups"}, broker...)...); strings.Contains(out, "billing") {
		t.Fatalf("deleted group still listed:\n%s", out)
	}
	again := start(t, c.net.Host(2), env, "consumer", append(groupFlags, "-group", "billing", "-analytics=false", "-format", "json", "-count", "1")...)
	if err := again.wait(60 * time.Second); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	if recs := records(t, again.stdout.String()); len(recs) != 1 || recs[0].Offset != 0 {
		t.Fatalf("after deletion the group starts at %+v, want offset 0", recs)
	}
}
