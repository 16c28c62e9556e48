package ctl

import (
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/wire"
)

func TestMonitorToken(t *testing.T) {
	r := newRig(t)
	if code := r.run("monitor-token"); code != 2 || !strings.Contains(r.err.String(), "no cluster key") {
		t.Fatalf("monitor-token without a key: exit %d, stderr %q", code, r.err.String())
	}
	r.vars[wire.KeyEnv] = "0123456789abcdef-secret"
	r.err.Reset()
	if code := r.run("monitor-token"); code != 0 {
		t.Fatalf("monitor-token: exit %d, stderr %q", code, r.err.String())
	}
	k, _ := wire.NewKey([]byte("0123456789abcdef-secret"))
	if got := strings.TrimSpace(r.out.String()); got != k.MonitorToken() {
		t.Fatalf("monitor-token printed %q, want %q", got, k.MonitorToken())
	}
}

func TestStartBrokerMonitorFlags(t *testing.T) {
	r := newRig(t)
	if code := r.run("start", "broker", "--name", "node1", "--monitor-address", "127.0.0.1:9464", "--monitor-pprof"); code != 0 {
		t.Fatalf("exit %d: %s", code, r.err.String())
	}
	env := r.launcher.last().Env
	if v, _ := envValue(env, "MONITOR_ADDRESS"); v != "127.0.0.1:9464" {
		t.Errorf("MONITOR_ADDRESS = %q (env %v)", v, env)
	}
	if v, _ := envValue(env, "MONITOR_PPROF"); v != "true" {
		t.Errorf("MONITOR_PPROF = %q (env %v)", v, env)
	}
	r2 := newRig(t)
	if code := r2.run("start", "broker", "--name", "node1", "--monitor-address", "9464"); code != 2 || !strings.Contains(r2.err.String(), "--monitor-address") {
		t.Fatalf("--monitor-address 9464: exit %d, stderr %q; want a usage error naming the flag", code, r2.err.String())
	}
	r3 := newRig(t)
	if code := r3.run("start", "broker", "--name", "node1"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, ok := envValue(r3.launcher.last().Env, "MONITOR_ADDRESS"); ok {
		t.Error("MONITOR_ADDRESS passed though not asked for: the monitor is off by default")
	}
}
