package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
)

// BenchmarkSharedGroup measures consumer groups with real processes: three
// brokers on hosts of the test network (majority commit, no retention), 1 M
// records of 100 bytes written by the load generator, then read to the end
// (-exit-at-end, text output) by consumer processes on other hosts:
//
//   - ungrouped: one consumer without a group;
//   - group1: one consumer as the only member of a fresh group (each batch
//     acknowledged, the position stored in __offsets);
//   - group3: three members of one fresh group at once; split% is the
//     largest member's share above an even third.
//
// Each figure is records/s from the consumers' start to the last one's
// exit (their start-up, a few hundred ms, included).
//
//	go test -run XXX -bench SharedGroup -benchtime 1x -count 3 ./pkg/e2e
func BenchmarkSharedGroup(b *testing.B) {
	const n = 1000000
	c := startClusterTimed(b, 7, 3, []string{"MAX_RECORDS_PER_TOPIC=0"})
	leader := fmt.Sprintf("%s:8001", c.net.Host(0).IP)
	prefix := fmt.Sprintf("g%d", time.Now().UnixNano())
	env := []string{"LOGSTREAM_HOME=" + c.home, "LOG_LEVEL=warn"}
	p := start(b, c.net.Host(3), env, "logstream", "bench", "--leader", leader, "--topic", prefix,
		"--count", fmt.Sprint(n), "--consumers", "0", "--format", "json")
	if err := p.wait(120 * time.Second); err != nil {
		b.Fatalf("bench: %v\n%s", err, p.stderr.String())
	}
	// The load generator names its topic PREFIX-UNIXTIME-0: ask the
	// cluster for it.
	var topic string
	err := c.net.Host(3).Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := client.MetadataKeyed(ctx, leader, 1<<20, nil)
		if err != nil {
			return err
		}
		for _, t := range md.Topics {
			if strings.HasPrefix(t.Name, prefix+"-") {
				topic = t.Name
			}
		}
		return nil
	})
	if err != nil || topic == "" {
		b.Fatalf("the load generator's topic: %v (found %q)", err, topic)
	}
	run := 0
	read := func(b *testing.B, members int, group bool) []int {
		run++
		args := []string{"-leader", leader, "-topic", topic, "-analytics=false", "-exit-at-end", "-format", "text"}
		if group {
			args = append(args, "-group", fmt.Sprintf("bench%d", run))
		}
		var ps []*proc
		for m := range members {
			ps = append(ps, start(b, c.net.Host(4+m), env, "consumer", args...))
		}
		counts := make([]int, members)
		total := 0
		for i, p := range ps {
			if err := p.wait(300 * time.Second); err != nil {
				b.Fatalf("consumer: %v\n%s", err, tail(p.stderr.String(), 20))
			}
			counts[i] = strings.Count(p.stdout.String(), "\n")
			total += counts[i]
		}
		if total < n {
			b.Fatalf("the consumers printed %d records, want %d\n%s\n%s", total, n, tail(ps[0].stderr.String(), 10), tail(p.stdout.String(), 3))
		}
		return counts
	}
	for _, mode := range []struct {
		name    string
		members int
		group   bool
	}{{"ungrouped", 1, false}, {"group1", 1, true}, {"group3", 3, true}} {
		b.Run(mode.name, func(b *testing.B) {
			var worst float64
			for range b.N {
				for _, k := range read(b, mode.members, mode.group) {
					worst = max(worst, 100*(float64(k)*float64(mode.members)/n-1))
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
			if mode.members > 1 {
				b.ReportMetric(worst, "split%")
			}
		})
	}
}
