package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkCluster3 measures the cluster targets: three brokers on
// three hosts of the test network, the load generator on a fourth, 100-byte
// records, majority commit. Each b.N iteration is a full run of `logstream
// bench`; its figures are reported as metrics.
//
//	go test -run XXX -bench Cluster3 -benchtime 3x ./pkg/e2e
func BenchmarkCluster3(b *testing.B) {
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"throughput", []string{"--count", "1000000"}},
		{"one-at-a-time", []string{"--sync", "--count", "5000"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				res := runClusterBench(b, mode.args)
				b.ReportMetric(res.ProduceRate, "acked-rec/s")
				b.ReportMetric(res.ConsumeRate, "consumed-rec/s")
				b.ReportMetric(res.AckLatencyUs["p50"], "ack-p50-µs")
				b.ReportMetric(res.AckLatencyUs["p99"], "ack-p99-µs")
			}
		})
	}
}

type benchJSON struct {
	ProduceRate  float64            `json:"produce_records_per_second"`
	ConsumeRate  float64            `json:"consume_records_per_second"`
	AckLatencyUs map[string]float64 `json:"ack_latency_us"`
}

func runClusterBench(b *testing.B, args []string) benchJSON {
	b.StopTimer()
	c := startCluster(b, 5, 3)
	leader := fmt.Sprintf("%s:8001", c.net.Host(0).IP)
	b.StartTimer()
	p := start(b, c.net.Host(3), []string{"LOGSTREAM_HOME=" + c.home, "LOG_LEVEL=warn"}, "logstream",
		append([]string{"bench", "--leader", leader, "--format", "json", "--topic", fmt.Sprintf("b%d", time.Now().UnixNano())}, args...)...)
	if err := p.wait(60 * time.Second); err != nil {
		b.Fatalf("bench: %v\n%s", err, p.stderr.String())
	}
	var res benchJSON
	if err := json.Unmarshal([]byte(p.stdout.String()), &res); err != nil {
		b.Fatalf("bench output %q: %v", p.stdout.String(), err)
	}
	return res
}
