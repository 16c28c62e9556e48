package roles

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/record"
)

// startTestBroker runs a broker on 127.0.0.1 with discovery off (nothing may
// broadcast from a test) and the given connection bound per IP.
func startTestBroker(t *testing.T, perIP int) string {
	t.Helper()
	return startTestBrokerWith(t, func(cfg *broker.Config) { cfg.MaxConnsPerIP = perIP })
}

func startTestBrokerWith(t *testing.T, set func(*broker.Config)) string {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.Name = "test"
	cfg.Listen = netip.MustParseAddrPort("127.0.0.1:0")
	cfg.Advertise = cfg.Listen
	cfg.BroadcastPort = 0
	cfg.DataDir = t.TempDir()
	cfg.Logger = zerolog.Nop()
	set(&cfg)
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

// A consumer that finds records gone (retention trimmed them before it read
// them) ends the bench at once: it could never count them all.
func TestBenchConsumerNoticesLostRecords(t *testing.T) {
	b := &benchConsumer{topic: "t", want: 10, lat: newLatencies(10), consumed: new(atomic.Uint64)}
	if err := b.Start(0, 0); err != nil {
		t.Fatalf("Start(0): %v", err)
	}
	if err := b.Records([]record.Record{{Offset: 0}, {Offset: 1}}); err != nil {
		t.Fatalf("Records 0-1: %v", err)
	}
	err := b.Records([]record.Record{{Offset: 5}})
	if !errors.Is(err, errBenchLost) || !strings.Contains(err.Error(), "missed offsets 2 to 4") {
		t.Errorf("Records after a gap: %v", err)
	}
	if err := (&benchConsumer{topic: "t", want: 10}).Start(7, 9); !errors.Is(err, errBenchLost) {
		t.Errorf("Start(7) of a fresh topic: %v", err)
	}
}

// Against a broker that keeps few records, bench used to wait for records
// that were gone until --timeout. It ends with one line naming the cause.
func TestBenchAgainstShortRetentionFailsEarly(t *testing.T) {
	addr := startTestBrokerWith(t, func(cfg *broker.Config) { cfg.MaxRecords = 10 })
	var stdout, stderr bytes.Buffer
	app := cliutil.Prepare(benchApp(), &stdout, &stderr)
	app.Name = "bench"
	start := time.Now()
	code := cliutil.Run(app, []string{"bench", "--leader", addr, "--producers", "1", "--consumers", "1",
		"--count", "200000", "--timeout", "60s", "--log-level", "error"})
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout: %s stderr: %s", code, stdout.String(), stderr.String())
	}
	out := lines(stderr.String())
	if last := out[len(out)-1]; !strings.Contains(last, "removed by the broker's retention") {
		t.Errorf("last line %q, want retention named", last)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("bench took %s to fail", took)
	}
}
