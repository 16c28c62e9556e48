package ctl

import (
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/defaults"
)

// TestFlagDefaults: logstreamctl start shows the defaults its children use
// (it passes only what the user set, so a wrong value here would only
// mislead --help); each must be pkg/defaults' value.
func TestFlagDefaults(t *testing.T) {
	sec := func(d interface{ Seconds() float64 }) string { return fmt.Sprint(int(d.Seconds())) }
	want := map[string]string{
		"multicast": defaults.MulticastGroup, "broadcast-port": fmt.Sprint(defaults.DiscoveryPort),
		"max-records":        fmt.Sprint(defaults.MaxRecordsPerTopic),
		"broker-hb-interval": sec(defaults.BrokerHBInterval), "client-hb-interval": sec(defaults.ClientHBInterval),
		"broker-timeout": sec(defaults.BrokerTimeout), "client-timeout": sec(defaults.ClientTimeout),
		"follower-hb-interval": sec(defaults.FollowerHBInterval), "suspicion-timeout": sec(defaults.SuspicionTimeout),
		"failure-timeout": sec(defaults.FailureTimeout),
		"topic":           defaults.Topic, "hb-interval": sec(defaults.ClientHB), "hb-timeout": sec(defaults.ClientHBTimeout),
		"reconnect-attempts": fmt.Sprint(defaults.ReconnectAttempts), "reconnect-delay": sec(defaults.ReconnectDelay),
		"message": defaults.Message,
	}
	for kind, flags := range map[string][]cli.Flag{"broker": brokerFlags(), "producer": producerFlags(), "consumer": consumerFlags()} {
		for _, f := range flags {
			w, ok := want[f.Names()[0]]
			if !ok {
				continue
			}
			if got := strings.Trim(f.(cli.DocGenerationFlag).GetValue(), `"`); got != w {
				t.Errorf("start %s --%s: default %q, pkg/defaults says %q", kind, f.Names()[0], got, w)
			}
		}
	}
	// The manual's table says the clients' --port defaults to auto-assign;
	// --help said "(default: auto-assign) (default: 0)".
	for kind, flags := range map[string][]cli.Flag{"producer": producerFlags(), "consumer": consumerFlags()} {
		for _, f := range flags {
			if f.Names()[0] == "port" {
				if got := f.(cli.DocGenerationFlag).GetDefaultText(); got != "auto-assign" {
					t.Errorf("start %s --port: --help shows default %q, want auto-assign", kind, got)
				}
			}
		}
	}
}
