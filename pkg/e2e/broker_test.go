package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/testnet"
)

// A broker, a producer and a consumer on three hosts find each other by UDP
// broadcast alone (no --leader anywhere) and stream records end to end.
func TestDiscoveryAcrossHosts(t *testing.T) {
	net := testnet.New(t, testnet.Options{Hosts: 3})
	home := []string{"LOGSTREAM_HOME=" + t.TempDir()}
	broker := start(t, net.Host(0), home, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)

	prod := start(t, net.Host(1), home, "producer", "-topic", "disc", "-rate", "500", "-count", "300", "-reconnect-delay", "1")
	if err := prod.wait(60 * time.Second); err != nil {
		t.Fatalf("producer: %v\n%s", err, tail(prod.stderr.String(), 20))
	}
	cons := start(t, net.Host(2), home, "consumer", "-topic", "disc", "-analytics=false", "-format", "json", "-exit-at-end")
	if err := cons.wait(60 * time.Second); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	checkSequence(t, records(t, cons.stdout.String()), 300, func(i int) string { return fmt.Sprintf("log message #%d", i) })
}

// kill -9 of the broker while a producer streams from a pipe: after a
// restart on the same data directory the producer resends what was not
// acknowledged, and a consumer that was reading throughout ends with every
// line exactly once, in order.
func TestBrokerKill9MidStream(t *testing.T) {
	h := testnet.Loopback(t)
	dir := t.TempDir()
	// Unlimited retention: the consumer may fall more than the default
	// MAX_RECORDS_PER_TOPIC (10,000, a record limit) behind the producer
	// across the crash, and every one of the 30,000 lines must arrive.
	env := []string{"LOGSTREAM_HOME=" + dir, "NODE_ADDRESS=127.0.0.1:8001", "CLIENT_HB_INTERVAL=1", "MAX_RECORDS_PER_TOPIC=0"}
	broker := start(t, h, env, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)

	const n = 30000
	flags := []string{"-leader", "127.0.0.1:8001", "-topic", "crash", "-reconnect-delay", "1", "-reconnect-attempts", "60", "-hb-interval", "1", "-hb-timeout", "3"}
	cons := start(t, h, env, "consumer", append(flags, "-analytics=false", "-format", "json", "-count", strconv.Itoa(n))...)
	prod := start(t, h, env, "producer", flags...)
	// The writer paces itself (a pause every 200 lines) so the kill lands
	// while records are still flowing.
	written := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := fmt.Fprintf(prod.stdin, "line-%d\n", i); err != nil {
				written <- err
				return
			}
			if i%200 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		written <- prod.stdin.Close()
	}()
	waitRecords(t, cons, n/4)
	broker.signal(9)
	broker.wait(10 * time.Second)
	broker2 := start(t, h, env, "logstream")
	if err := <-written; err != nil {
		t.Fatalf("writing to the producer: %v", err)
	}
	if err := prod.wait(120 * time.Second); err != nil {
		t.Fatalf("producer did not get every line acknowledged: %v\n%s", err, tail(prod.stderr.String(), 20))
	}
	if err := cons.wait(120 * time.Second); err != nil {
		t.Fatalf("consumer: %v\n%s", err, tail(cons.stderr.String(), 20))
	}
	checkSequence(t, records(t, cons.stdout.String()), n, func(i int) string { return fmt.Sprintf("line-%d", i) })
	// Both clients really lived through the crash.
	for _, p := range []*proc{prod, cons} {
		if !strings.Contains(p.stderr.String(), "connection lost") {
			t.Errorf("%s never lost its connection: the kill did not land mid-stream", p.name)
		}
	}
	broker2.signal(15)
	if err := broker2.wait(20 * time.Second); err != nil {
		t.Fatalf("broker did not stop cleanly on SIGTERM: %v", err)
	}
}

// waitRecords waits until a -format json consumer has printed n records.
func waitRecords(t testing.TB, p *proc, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(p.stdout.String(), `"type":"record"`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("consumer printed fewer than %d records in time", n)
		}
		time.Sleep(5 * time.Millisecond) // polling output, bounded above
	}
}
