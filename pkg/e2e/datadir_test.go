package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/testnet"
)

// Two brokers given the same data directory (the same NODE_NAME, or
// DATA_DIR) would write the same logs under the same node id; the second
// is refused in one line and exits 1, and the first goes on serving.
func TestSecondBrokerOnOneDataDirIsRefused(t *testing.T) {
	h := testnet.Loopback(t)
	dir := t.TempDir()
	env := []string{"LOGSTREAM_HOME=" + dir, "DATA_DIR=" + dir + "/data"}
	first := start(t, h, append(env, "NODE_ADDRESS=127.0.0.1:8001"), "logstream")
	first.waitLog("ClusterState", 10*time.Second)
	second := start(t, h, append(env, "NODE_ADDRESS=127.0.0.1:8002"), "logstream")
	err := second.wait(20 * time.Second)
	msg := strings.TrimSpace(second.stderr.String())
	if err == nil || !strings.Contains(msg, "is in use by another broker") || strings.Count(msg, "\n") != 0 {
		t.Fatalf("second broker on the same data directory: %v\nstderr: %s", err, msg)
	}
	select {
	case <-first.Done():
		t.Fatalf("the first broker stopped: %v", first.Err())
	default:
	}
}
