package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logstream/logstream/pkg/internal/testnet"
	"github.com/logstream/logstream/pkg/wire"
)

// httpIn is an HTTP client whose connections are dialled inside h.
func httpIn(h *testnet.Host) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

func httpGet(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A real broker with a cluster key and --monitor-address: /readyz turns 200
// once it serves, /metrics (with the token derived from the key) parses and
// counts what a producer sent, and without the token it is refused.
func TestMonitorOfARealBroker(t *testing.T) {
	h := testnet.Loopback(t)
	const secret = "e2e-monitor-key-0123456789"
	key, err := wire.NewKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	token := key.MonitorToken()
	env := []string{"LOGSTREAM_HOME=" + t.TempDir(), "NODE_ADDRESS=127.0.0.1:8001", wire.KeyEnv + "=" + secret,
		"MONITOR_ADDRESS=127.0.0.1:9464"}
	broker := start(t, h, env, "logstream")
	c := httpIn(h)
	base := "http://127.0.0.1:9464"

	broker.waitLog("monitor listening", 10*time.Second)
	// Ready once it leads its own view: poll, bounded in count and time.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		code, body := httpGet(t, c, base+"/readyz", "")
		if code == 200 {
			break
		}
		if i > 400 || time.Now().After(deadline) {
			t.Fatalf("/readyz never 200 (last %d %q)\n%s", code, body, tail(broker.stderr.String(), 20))
		}
		select {
		case <-broker.done:
			t.Fatalf("broker exited before it was ready\n%s", tail(broker.stderr.String(), 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if code, body := httpGet(t, c, base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}

	prod := start(t, h, env, "producer", "-leader", "127.0.0.1:8001", "-topic", "mon", "-count", "50", "-rate", "1000", "-message", "r{n}")
	if err := prod.wait(60 * time.Second); err != nil {
		t.Fatalf("producer: %v\n%s", err, tail(prod.stderr.String(), 20))
	}

	if code, _ := httpGet(t, c, base+"/metrics", ""); code != 401 {
		t.Fatalf("/metrics without the token = %d, want 401", code)
	}
	// Offsets come from the status snapshot the cluster loop publishes at
	// every 20 ms tick: scrape until it shows the last record, bounded.
	var fams map[string]*dto.MetricFamily
	for i := 0; ; i++ {
		code, body := httpGet(t, c, base+"/metrics", token)
		if code != 200 {
			t.Fatalf("/metrics with the token = %d %q", code, body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		if fams, err = p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		if strings.Contains(body, `logstream_topic_committed_offset{topic="mon"} 50`) || i >= 100 {
			break
		}
		time.Sleep(20 * time.Millisecond) // one tick; bounded by the count above
	}
	one := func(name string, labels ...string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("%s missing from /metrics", name)
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			return metricValue(m)
		}
		t.Fatalf("%s%v missing from /metrics", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"logstream_topic_records_in_total", []string{"topic", "mon"}, 50},
		{"logstream_topic_log_end_offset", []string{"topic", "mon"}, 50},
		{"logstream_topic_committed_offset", []string{"topic", "mon"}, 50},
		{"logstream_records_produced_total", nil, 50},
		{"logstream_ready", nil, 1},
		{"logstream_is_leader", nil, 1},
	} {
		if got := one(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := one("logstream_produce_ack_latency_seconds"); n < 1 {
		t.Errorf("no produce acknowledgement latency observed")
	}
	if one("go_goroutines") <= 0 {
		t.Errorf("go_goroutines not positive")
	}
	code, body := httpGet(t, c, base+"/status", token)
	if code != 200 || !strings.Contains(body, `"cluster_from": "127.0.0.1:8001"`) || !strings.Contains(body, `"name": "mon"`) {
		t.Fatalf("/status = %d %s", code, body)
	}

	broker.signal(15)
	if err := broker.wait(20 * time.Second); err != nil {
		t.Fatalf("broker did not stop cleanly on SIGTERM: %v\n%s", err, tail(broker.stderr.String(), 20))
	}
	if code, _ := httpGet(t, c, base+"/healthz", ""); code != 0 {
		t.Fatalf("monitor still answers (%d) after the broker stopped", code)
	}
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
