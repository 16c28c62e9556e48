package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/internal/testnet"
	"github.com/logstream/logstream/pkg/wire"
)

// The bad sector on a lone broker: 3,000 records of ~220 bytes,
// kill -9, 512 random bytes written over the middle of the segment file,
// restart. The broker reports the damaged range in its log and in status,
// the records before and after it stay readable, a new consumer moves past
// the gap, says on stderr which offsets it lost, and exits, and a producer
// can append again. (Before: the topic
// was dead; producers got BUSY forever, consumers an internal error.)
func TestDamagedSegmentLoneBroker(t *testing.T) {
	h := testnet.Loopback(t)
	home := t.TempDir()
	env := []string{"LOGSTREAM_HOME=" + home, "NODE_ADDRESS=127.0.0.1:8001", "MAX_RECORDS_PER_TOPIC=0"}
	broker := start(t, h, env, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)

	const n = 3000
	pad := strings.Repeat("x", 200)
	payload := func(i int) string { return fmt.Sprintf("line-%d-%s", i, pad) }
	flags := []string{"-leader", "127.0.0.1:8001", "-topic", "dmg", "-reconnect-delay", "1", "-reconnect-attempts", "5"}
	produce := func(from, to int) {
		t.Helper()
		prod := start(t, h, env, "producer", flags...)
		var in strings.Builder
		for i := from; i <= to; i++ {
			in.WriteString(payload(i) + "\n")
		}
		go func() {
			prod.stdin.Write([]byte(in.String()))
			prod.stdin.Close()
		}()
		if err := prod.wait(30 * time.Second); err != nil {
			t.Fatalf("producer of lines %d-%d: %v\n%s", from, to, err, tail(prod.stderr.String(), 10))
		}
	}
	produce(1, n)
	broker.signal(9)
	broker.wait(10 * time.Second)

	segs, err := filepath.Glob(filepath.Join(home, "data", "*", "dmg", "*.log"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segment files %v (%v), want one", segs, err)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(12, 1))
	mid := len(b) / 2
	for i := mid; i < mid+512; i++ {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}

	broker = start(t, h, env, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)
	produce(n+1, n+10)

	cons := start(t, h, env, "consumer", append(flags, "-analytics=false", "-format", "json", "-from", "beginning", "-exit-at-end")...)
	if err := cons.wait(30 * time.Second); err != nil {
		t.Fatalf("consumer: %v\n%s", err, tail(cons.stderr.String(), 10))
	}
	recs := records(t, cons.stdout.String())
	// Every record is intact and in its place; only one short run is missing.
	var gaps [][2]uint64
	next := uint64(0)
	for _, rec := range recs {
		if rec.Payload != payload(int(rec.Offset)+1) {
			t.Fatalf("record at offset %d carries %.20q, want %.20q", rec.Offset, rec.Payload, payload(int(rec.Offset)+1))
		}
		if rec.Offset < next {
			t.Fatalf("offset %d after %d: out of order or repeated", rec.Offset, next-1)
		}
		if rec.Offset > next {
			gaps = append(gaps, [2]uint64{next, rec.Offset})
		}
		next = rec.Offset + 1
	}
	if next != n+10 || len(gaps) != 1 || gaps[0][1]-gaps[0][0] > 4 {
		t.Fatalf("consumer read up to offset %d with gaps %v; want up to %d with one gap of the ~3 damaged records", next, gaps, n+10)
	}
	if c := strings.Count(cons.stderr.String(), "connected"); c > 2 {
		t.Errorf("consumer connected %d times", c)
	}
	// The consumer says once, on standard error, which offsets it lost and
	// why (it used to blame retention, or say nothing); standard output
	// holds only records.
	notice := fmt.Sprintf("records %d to %d were lost: they lay in a damaged range", gaps[0][0], gaps[0][1]-1)
	if c := strings.Count(cons.stderr.String(), notice); c != 1 || strings.Contains(cons.stderr.String(), "removed by retention") {
		t.Errorf("consumer stderr has %d notices %q (want 1, and no retention notice):\n%s", c, notice, tail(cons.stderr.String(), 10))
	}
	if strings.Contains(cons.stdout.String(), "were lost") {
		t.Error("the notice went to standard output, among the records")
	}
	// The log line and status name the same range.
	want := fmt.Sprintf(`"from":%d,"to":%d`, gaps[0][0], gaps[0][1])
	if !strings.Contains(broker.stderr.String(), want) {
		t.Errorf("broker log does not report offsets [%d, %d):\n%s", gaps[0][0], gaps[0][1], tail(broker.stderr.String(), 20))
	}
	md := brokerMetadata(t, h, "127.0.0.1:8001")
	if md.Counters["damaged_ranges"] != 1 || len(md.Damage) != 1 || md.Damage[0].Topic != "dmg" ||
		md.Damage[0].From != gaps[0][0] || md.Damage[0].To != gaps[0][1] {
		t.Errorf("metadata: damaged_ranges %d, damage %+v; want the one range [%d, %d)", md.Counters["damaged_ranges"], md.Damage, gaps[0][0], gaps[0][1])
	}
	for _, c := range []struct{ flag, want string }{
		{"--json", fmt.Sprintf(`"from": %d,`, gaps[0][0])},
		{"--timeout=5s", fmt.Sprintf("[%d, %d)", gaps[0][0], gaps[0][1])},
	} {
		ctl := start(t, h, env, "logstreamctl", "status", "--broker", "127.0.0.1:8001", c.flag)
		if err := ctl.wait(20 * time.Second); err != nil {
			t.Fatalf("logstreamctl status %s: %v\n%s", c.flag, err, tail(ctl.stderr.String(), 10))
		}
		if out := ctl.stdout.String(); !strings.Contains(out, c.want) || !strings.Contains(out, "damaged_ranges") {
			t.Errorf("logstreamctl status %s does not show %q:\n%s", c.flag, c.want, out)
		}
	}
}

func brokerMetadata(t *testing.T, h *testnet.Host, addr string) *wire.MetadataResponse {
	t.Helper()
	var md *wire.MetadataResponse
	err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		md, err = client.MetadataKeyed(ctx, addr, 1<<20, nil)
		return err
	})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	return md
}
