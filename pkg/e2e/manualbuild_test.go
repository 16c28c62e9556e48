package e2e

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/internal/testnet"
)

// The manual's build line makes logstreamctl a binary of its own
// (`go build -o logstreamctl cmd/logstreamctl/main.go`); the brokers,
// producers and consumers it starts must run as those roles, not as
// `logstreamctl broker` (an unknown command that left a dead daemon behind).
func TestCtlBuiltFromManualLine(t *testing.T) {
	t.Parallel()
	h := testnet.Loopback(t)
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "logstreamctl"), "cmd/logstreamctl/main.go")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the manual's build line failed: %v\n%s", err, out)
	}
	c := newCtlHost(t, h, false)
	c.dir = dir

	c.ok("./logstreamctl start broker --name node1 --background")
	c.waitBroker("node1")
	c.ok("./logstreamctl start producer --name prod1 --topic logs --rate 5 --background")
	c.eventually("./logstreamctl logs prod1", "connected", 15*time.Second)
	pids := c.checkRunning(map[string]string{"node1": "broker", "prod1": "producer"})
	c.ok("./logstreamctl stop --all")
	c.checkStopped(pids)
}
