package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/testnet"
)

const (
	goodKey  = "correct horse battery staple 42"
	wrongKey = "an entirely different cluster key"
)

// With the same cluster key everywhere, discovery, producing, consuming and
// logstreamctl status work as without one; every process with another key,
// or none, is refused, says so in one line and exits non-zero.
func TestClusterKey(t *testing.T) {
	net3 := testnet.New(t, testnet.Options{Hosts: 3})
	home := "LOGSTREAM_HOME=" + t.TempDir()
	keyed := []string{home, "LOGSTREAM_CLUSTER_KEY=" + goodKey}
	broker := start(t, net3.Host(0), keyed, "logstream")
	broker.waitLog("ClusterState", 10*time.Second)
	if !strings.Contains(broker.stderr.String(), "cluster key set") {
		t.Errorf("the broker did not say it runs with a key")
	}

	// Same key, found by broadcast.
	const n = 500
	prod := start(t, net3.Host(1), keyed, "producer", "-topic", "keyed", "-rate", "1000", "-count", fmt.Sprint(n), "-reconnect-delay", "1")
	if err := prod.wait(60 * time.Second); err != nil {
		t.Fatalf("keyed producer: %v\n%s", err, tail(prod.stderr.String(), 20))
	}
	cons := start(t, net3.Host(1), keyed, "consumer", "-topic", "keyed", "-analytics=false", "-format", "json", "-exit-at-end")
	if err := cons.wait(60 * time.Second); err != nil {
		t.Fatalf("keyed consumer: %v\n%s", err, tail(cons.stderr.String(), 20))
	}
	checkSequence(t, records(t, cons.stdout.String()), n, func(i int) string { return fmt.Sprintf("log message #%d", i) })

	// A key file works like the variable.
	keyFile := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(keyFile, []byte(goodKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokerAddr := net3.Host(0).IP.String() + ":8001"
	st := start(t, net3.Host(1), []string{home}, "logstreamctl", "status", "--json", "--broker", brokerAddr, "--cluster-key-file", keyFile)
	if err := st.wait(30 * time.Second); err != nil {
		t.Fatalf("logstreamctl status with the key file: %v\n%s", err, st.stderr.String())
	}
	var rep struct {
		Cluster struct {
			Counters map[string]uint64 `json:"counters"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(st.stdout.String()), &rep); err != nil {
		t.Fatalf("status --json: %v\n%s", err, st.stdout.String())
	}
	if _, ok := rep.Cluster.Counters["auth_failures"]; !ok {
		t.Errorf("status --json shows no auth_failures counter: %v", rep.Cluster.Counters)
	}

	// Wrong key or none: each is refused and says so.
	wrong := []string{home, "LOGSTREAM_CLUSTER_KEY=" + wrongKey}
	for _, c := range []struct {
		name string
		host *testnet.Host
		env  []string
		role string
		args []string
	}{
		{"producer-wrong-key-discovery", net3.Host(1), wrong, "producer", []string{"-topic", "keyed", "-count", "5", "-rate", "10"}},
		{"producer-wrong-key-leader", net3.Host(1), wrong, "producer", []string{"-topic", "keyed", "-count", "5", "-rate", "10", "-leader", brokerAddr}},
		{"consumer-no-key", net3.Host(1), []string{home}, "consumer", []string{"-topic", "keyed", "-exit-at-end", "-leader", brokerAddr}},
		{"consumer-no-key-discovery", net3.Host(1), []string{home}, "consumer", []string{"-topic", "keyed", "-exit-at-end"}},
		{"broker-wrong-key", net3.Host(2), wrong, "logstream", nil},
		{"ctl-status-wrong-key", net3.Host(1), wrong, "logstreamctl", []string{"status", "--broker", brokerAddr}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, c.host, c.env, c.role, c.args...)
			err := p.wait(60 * time.Second)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want a non-zero status; stderr:\n%s", err, tail(p.stderr.String(), 20))
			}
			if got := strings.Count(p.stderr.String(), "cluster key does not match"); got == 0 {
				t.Fatalf("no line says the key does not match; stderr:\n%s", tail(p.stderr.String(), 20))
			}
		})
	}
	if !strings.Contains(broker.stderr.String(), "cluster key does not match") {
		t.Errorf("the broker never logged a refused key")
	}
	if strings.Contains(broker.stderr.String(), `"level":"error"`) || strings.Contains(broker.stderr.String(), "panic") {
		t.Errorf("the broker logged errors:\n%s", tail(broker.stderr.String(), 20))
	}
}
