package roles

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/cliutil"
)

// startTestBroker runs a broker on 127.0.0.1 with discovery off (nothing may
// broadcast from a test) and the given connection bound per IP.
func startTestBroker(t *testing.T, perIP int) string {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.Name = "test"
	cfg.Listen = netip.MustParseAddrPort("127.0.0.1:0")
	cfg.Advertise = cfg.Listen
	cfg.BroadcastPort = 0
	cfg.DataDir = t.TempDir()
	cfg.MaxConnsPerIP = perIP
	cfg.Logger = zerolog.Nop()
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return b.Addr().String()
}

// More bench clients than MAX_CONNECTIONS_PER_IP used to retry at full
// speed until --timeout (10 minutes by default), then exit 1 without saying
// why. Bench ends within seconds with one line naming the bound.
func TestBenchOverTheConnectionLimitFailsEarly(t *testing.T) {
	addr := startTestBroker(t, 2)
	var stdout, stderr bytes.Buffer
	app := cliutil.Prepare(benchApp(), &stdout, &stderr)
	app.Name = "bench"
	start := time.Now()
	// The producers that get a slot keep it (100 records/s for hours), so
	// the others cannot get one by waiting.
	code := cliutil.Run(app, []string{"bench", "--leader", addr, "--producers", "5", "--consumers", "0",
		"--count", "1000000", "--rate", "100", "--timeout", "60s", "--log-level", "error"})
	took := time.Since(start)
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr: %s", code, stderr.String())
	}
	out := lines(stderr.String())
	last := out[len(out)-1]
	if !strings.Contains(last, "MAX_CONNECTIONS_PER_IP reached (2 connections") || !strings.Contains(last, "this bench opens 5 connections") {
		t.Errorf("last line %q, want the bound named", last)
	}
	t.Logf("%s after %s", last, took)
	if took > 20*time.Second {
		t.Errorf("bench took %s to fail", took)
	}
}
