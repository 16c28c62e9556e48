package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A bad sector in one broker's copy of a topic, in a cluster of three: the
// damaged range is fetched back from a replica and written into the log,
// so nothing is lost and a consumer reading from the beginning gets every
// record once and in order. On a follower the damage is found at restart;
// on the owner while it runs, by the consumer's read (which waits for the
// repair instead of skipping).
func TestDamagedRangeRepairedFromAReplica(t *testing.T) {
	for _, victim := range []string{"follower-at-restart", "owner-while-running"} {
		t.Run(victim, func(t *testing.T) {
			c := startCluster(t, 5, 3)
			env := []string{"LOGSTREAM_HOME=" + c.home}
			const n = 3000
			pad := strings.Repeat("x", 200)
			payload := func(i int) string { return fmt.Sprintf("line-%d-%s", i, pad) }
			flags := []string{"-topic", "logs", "-reconnect-delay", "1", "-reconnect-attempts", "30", "-hb-interval", "1", "-hb-timeout", "4"}
			prod := start(t, c.net.Host(3), env, "producer", flags...)
			var in strings.Builder
			for i := 1; i <= n; i++ {
				in.WriteString(payload(i) + "\n")
			}
			go func() {
				prod.stdin.Write([]byte(in.String()))
				prod.stdin.Close()
			}()
			if err := prod.wait(60 * time.Second); err != nil {
				t.Fatalf("producer: %v", err)
			}
			owner := c.ownerIndex(t, "logs")
			i := owner
			if victim == "follower-at-restart" {
				i = (owner + 1) % 3
				c.brokers[i].signal(9)
				c.brokers[i].wait(10 * time.Second)
			}
			damageSegment(t, filepath.Join(c.home, "data", "node"+strconv.Itoa(i+1), "logs"))
			if victim == "follower-at-restart" {
				c.brokers[i] = c.startBroker(t, i)
			}
			cons := start(t, c.net.Host(4), env, "consumer", append(flags, "-analytics=false", "-format", "json", "-from", "beginning", "-exit-at-end")...)
			if err := cons.wait(60 * time.Second); err != nil {
				t.Fatalf("consumer: %v\n%s", err, tail(cons.stderr.String(), 10))
			}
			waitLogMatch(t, c.brokers[i], func(s string) bool { return strings.Contains(s, "damaged records repaired from a replica") },
				30*time.Second, "a repaired damaged range")
			checkSequence(t, records(t, cons.stdout.String()), n, payload)
		})
	}
}

// damageSegment overwrites 512 bytes in the middle of the topic's only
// segment file in dir, as a bad sector would.
func damageSegment(t *testing.T, dir string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segment files in %s: %v (%v), want one", dir, segs, err)
	}
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 512)
	r := rand.New(rand.NewPCG(7, 7))
	for k := range junk {
		junk[k] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}
