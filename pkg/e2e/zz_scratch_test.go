package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/testnet"
)

func TestZZScratch(t *testing.T) {
	net := testnet.New(t, testnet.Options{Hosts: 1})
	h := net.Host(0)
	p := start(t, h, []string{"LOGSTREAM_HOME=" + t.TempDir()}, "producer", "-topic", "logs", "-rate", "5")
	p.waitLog("discovery attempt 2/5: no JOIN", 10*time.Second)
	p.signal(syscall.SIGINT)
	select {
	case <-p.done:
		t.Logf("exited at once: %v", p.err)
	case <-time.After(3 * time.Second):
		t.Logf("still draining after 3s (as designed for one Ctrl-C)")
	}
	t.Log(tail(p.stderr.String(), 4))
}
