package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/internal/testnet"
	"github.com/logstream/logstream/pkg/wire"
)

// The manual's MAX_RECORDS_PER_TOPIC is a record limit: a broker keeping
// 100 records, 500 lines produced with no consumer, then a new consumer from
// the beginning gets exactly the newest 100, and status shows [400, 500),
// also after a restart.
func TestMaxRecordsPerTopic(t *testing.T) {
	h := testnet.Loopback(t)
	env := []string{"LOGSTREAM_HOME=" + t.TempDir(), "NODE_ADDRESS=127.0.0.1:8001", "MAX_RECORDS_PER_TOPIC=100"}
	broker := start(t, h, env, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)

	flags := []string{"-leader", "127.0.0.1:8001", "-topic", "ret", "-reconnect-delay", "1"}
	prod := start(t, h, env, "producer", flags...)
	var lines strings.Builder
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&lines, "line-%d\n", i)
	}
	if _, err := prod.stdin.Write([]byte(lines.String())); err != nil {
		t.Fatal(err)
	}
	prod.stdin.Close()
	if err := prod.wait(60 * time.Second); err != nil {
		t.Fatalf("producer: %v\n%s", err, tail(prod.stderr.String(), 20))
	}

	newest100 := func(what string) {
		t.Helper()
		cons := start(t, h, env, "consumer", append(flags, "-analytics=false", "-format", "json", "-from", "beginning", "-exit-at-end")...)
		if err := cons.wait(60 * time.Second); err != nil {
			t.Fatalf("%s: consumer: %v\n%s", what, err, tail(cons.stderr.String(), 20))
		}
		recs := records(t, cons.stdout.String())
		if len(recs) != 100 || recs[0].Offset != 400 || recs[0].Payload != "line-401" || recs[99].Payload != "line-500" {
			first := jsonRecord{}
			if len(recs) > 0 {
				first = recs[0]
			}
			t.Fatalf("%s: consumer from the beginning got %d records starting at offset %d (%q); want the newest 100, offsets 400-499",
				what, len(recs), first.Offset, first.Payload)
		}
		checkTopicRange(t, h, "ret", 400, 500)
	}
	newest100("after producing")

	broker.signal(15)
	if err := broker.wait(20 * time.Second); err != nil {
		t.Fatalf("broker did not stop on SIGTERM: %v", err)
	}
	broker = start(t, h, env, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)
	newest100("after a restart")
}

// checkTopicRange waits up to 5 s for the broker at 127.0.0.1:8001 to
// report the topic's retained range as [start, next) in its metadata (what
// logstreamctl status shows; the broker publishes its cluster status every
// tick, so NextOffset may lag the log by a few milliseconds).
func checkTopicRange(t *testing.T, h *testnet.Host, topic string, start, next uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		got, err := topicRange(h, topic)
		if err == nil && got == [2]uint64{start, next} {
			return
		}
		if time.Now().After(deadline) || i >= 100 {
			t.Fatalf("status shows topic %s at %v (%v), want [%d, %d)", topic, got, err, start, next)
		}
		time.Sleep(50 * time.Millisecond) // polling the broker, bounded above
	}
}

func topicRange(h *testnet.Host, topic string) ([2]uint64, error) {
	var md *wire.MetadataResponse
	err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		md, err = client.MetadataKeyed(ctx, "127.0.0.1:8001", 1<<20, nil)
		return err
	})
	if err != nil {
		return [2]uint64{}, err
	}
	for _, ti := range md.Topics {
		if ti.Name == topic {
			return [2]uint64{ti.StartOffset, ti.NextOffset}, nil
		}
	}
	return [2]uint64{}, fmt.Errorf("topic %s not listed", topic)
}
