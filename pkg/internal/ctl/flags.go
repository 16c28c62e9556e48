package ctl

import (
	"fmt"
	"net"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/wire"
)

// childOpt maps one of our flags to what the child understands: an
// environment variable (broker) or a flag (producer, consumer). Only flags
// the user set are passed, so the child's own defaults (and the user's
// environment) apply otherwise.
type childOpt struct {
	flag  string
	child string
	check func(v string) error
}

func nonNeg(flag string) func(string) error {
	return func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return usageErrorf("invalid value %q for --%s: want a whole number >= 0", v, flag)
		}
		return nil
	}
}

func positive(flag string) func(string) error {
	return func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			return usageErrorf("invalid value %q for --%s: want a whole number > 0", v, flag)
		}
		return nil
	}
}

func portRange(flag string, allowZero bool) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n > 65535 || n < 0 || (n == 0 && !allowZero) {
			return usageErrorf("invalid value %q for --%s: want a port number 1-65535", v, flag)
		}
		return nil
	}
}

func hostPort(flag string) func(string) error {
	return func(v string) error {
		if _, _, err := splitHostPort(v); err != nil {
			return usageErrorf("invalid value %q for --%s: want IP:PORT (%v)", v, flag, err)
		}
		return nil
	}
}

func multicastAddr(flag string) func(string) error {
	return func(v string) error {
		host, _, err := splitHostPort(v)
		if err == nil {
			if ip := net.ParseIP(host); ip == nil || !ip.IsMulticast() {
				err = fmt.Errorf("%s is not a multicast IP", host)
			}
		}
		if err != nil {
			return usageErrorf("invalid value %q for --%s: want a multicast IP:PORT such as 239.0.0.1:9999 (%v)", v, flag, err)
		}
		return nil
	}
}

func ipOnly(flag string) func(string) error {
	return func(v string) error {
		if net.ParseIP(v) == nil {
			return usageErrorf("invalid value %q for --%s: want an IP address", v, flag)
		}
		return nil
	}
}

// splitHostPort accepts HOST:PORT with a non-empty host and a port 1-65535.
func splitHostPort(v string) (string, int, error) {
	host, ps, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, fmt.Errorf("missing host")
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

var brokerOpts = []childOpt{
	{"multicast", "MULTICAST_GROUP", multicastAddr("multicast")},
	{"broadcast-port", "BROADCAST_PORT", portRange("broadcast-port", false)},
	{"leader", "LEADER_ADDRESS", hostPort("leader")},
	{"max-records", "MAX_RECORDS_PER_TOPIC", nonNeg("max-records")},
	{"broker-hb-interval", "BROKER_HB_INTERVAL", positive("broker-hb-interval")},
	{"client-hb-interval", "CLIENT_HB_INTERVAL", positive("client-hb-interval")},
	{"broker-timeout", "BROKER_TIMEOUT", positive("broker-timeout")},
	{"client-timeout", "CLIENT_TIMEOUT", positive("client-timeout")},
	{"follower-hb-interval", "FOLLOWER_HB_INTERVAL", positive("follower-hb-interval")},
	{"suspicion-timeout", "SUSPICION_TIMEOUT", positive("suspicion-timeout")},
	{"failure-timeout", "FAILURE_TIMEOUT", positive("failure-timeout")},
	{"monitor-address", "MONITOR_ADDRESS", hostPort("monitor-address")},
	{"monitor-pprof", "MONITOR_PPROF", nil},
}

var producerOpts = []childOpt{
	{"leader", "leader", hostPort("leader")},
	{"topic", "topic", nil},
	{"port", "port", portRange("port", true)},
	{"address", "address", ipOnly("address")},
	{"rate", "rate", nonNeg("rate")},
	{"interval", "interval", nonNeg("interval")},
	{"count", "count", nonNeg("count")},
	{"message", "message", nil},
	{"hb-interval", "hb-interval", positive("hb-interval")},
	{"hb-timeout", "hb-timeout", positive("hb-timeout")},
	{"reconnect-attempts", "reconnect-attempts", nonNeg("reconnect-attempts")},
	{"reconnect-delay", "reconnect-delay", nonNeg("reconnect-delay")},
}

var consumerOpts = []childOpt{
	{"leader", "leader", hostPort("leader")},
	{"topic", "topic", nil},
	{"port", "port", portRange("port", true)},
	{"address", "address", ipOnly("address")},
	{"window", "window", nonNeg("window")},
	{"group", "group", groupName},
	{"from", "from", nil},
	{"interval", "interval", nonNeg("interval")},
	{"hb-interval", "hb-interval", positive("hb-interval")},
	{"reconnect-attempts", "reconnect-attempts", nonNeg("reconnect-attempts")},
	{"reconnect-delay", "reconnect-delay", nonNeg("reconnect-delay")},
}

func groupName(v string) error {
	if err := wire.ValidGroupName(v); err != nil {
		return usageErrorf("invalid value %q for --group: want 1-200 characters of A-Z a-z 0-9 . _ -", v)
	}
	return nil
}

func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "unique process name (required)"},
		&cli.BoolFlag{Name: "background", Aliases: []string{"bg"}, Usage: "run as a daemon (-bg); output goes to ~/.logstream/logs/NAME.log"},
		&cli.StringFlag{Name: "leader", Aliases: []string{"l"}, Usage: "leader broker IP:PORT (default: discover by UDP broadcast)"},
	}
}

func brokerFlags() []cli.Flag {
	return append(commonFlags(),
		&cli.StringFlag{Name: "address", Aliases: []string{"a"}, Usage: fmt.Sprintf("IP:PORT, or PORT, or omit for auto IP and port %d (next free if taken)", defaults.BrokerPort)},
		&cli.StringFlag{Name: "multicast", Aliases: []string{"m"}, Value: defaults.MulticastGroup, Usage: "multicast group for heartbeats and replication"},
		&cli.IntFlag{Name: "broadcast-port", Aliases: []string{"b"}, Value: defaults.DiscoveryPort, Usage: "UDP broadcast port for discovery"},
		&cli.IntFlag{Name: "max-records", Value: defaults.MaxRecordsPerTopic, Usage: "max records per topic log (0 = unlimited)"},
		&cli.IntFlag{Name: "broker-hb-interval", Value: defaults.Seconds(defaults.BrokerHBInterval), Usage: "leader->follower heartbeat interval, seconds"},
		&cli.IntFlag{Name: "client-hb-interval", Value: defaults.Seconds(defaults.ClientHBInterval), Usage: "leader->client heartbeat interval, seconds"},
		&cli.IntFlag{Name: "broker-timeout", Value: defaults.Seconds(defaults.BrokerTimeout), Usage: "dead broker removal timeout, seconds"},
		&cli.IntFlag{Name: "client-timeout", Value: defaults.Seconds(defaults.ClientTimeout), Usage: "dead client removal timeout, seconds"},
		&cli.IntFlag{Name: "follower-hb-interval", Value: defaults.Seconds(defaults.FollowerHBInterval), Usage: "follower->leader heartbeat interval, seconds"},
		&cli.IntFlag{Name: "suspicion-timeout", Value: defaults.Seconds(defaults.SuspicionTimeout), Usage: "leader suspicion timeout, seconds"},
		&cli.IntFlag{Name: "failure-timeout", Value: defaults.Seconds(defaults.FailureTimeout), Usage: "leader failure timeout, seconds"},
		&cli.StringFlag{Name: "monitor-address", Usage: "IP:PORT for the broker's monitoring listener (/metrics, /healthz, /readyz, /status, dashboard); default: off"},
		&cli.BoolFlag{Name: "monitor-pprof", Usage: "also serve /debug/pprof/ on the monitoring listener"},
	)
}

func clientFlags() []cli.Flag {
	return append(commonFlags(),
		&cli.StringFlag{Name: "topic", Aliases: []string{"t"}, Value: defaults.Topic, Usage: "topic name"},
		&cli.IntFlag{Name: "port", Aliases: []string{"p"}, DefaultText: "auto-assign", Usage: "client TCP port"},
		&cli.StringFlag{Name: "address", Aliases: []string{"a"}, Usage: "advertised IP (WSL/NAT)"},
		&cli.IntFlag{Name: "hb-interval", Value: defaults.Seconds(defaults.ClientHB), Usage: "heartbeat interval, seconds"},
		&cli.IntFlag{Name: "reconnect-attempts", Value: defaults.ReconnectAttempts, Usage: "max reconnection attempts"},
		&cli.IntFlag{Name: "reconnect-delay", Value: defaults.Seconds(defaults.ReconnectDelay), Usage: "delay between reconnection attempts, seconds"},
	)
}

func producerFlags() []cli.Flag {
	return append(clientFlags(),
		&cli.IntFlag{Name: "rate", Aliases: []string{"r"}, Usage: "messages per second (0 = interactive)"},
		&cli.IntFlag{Name: "interval", Aliases: []string{"i"}, Usage: "milliseconds between messages (overrides --rate)"},
		&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Usage: "total messages (0 = unlimited)"},
		&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Value: defaults.Message, Usage: "message template"},
		&cli.IntFlag{Name: "hb-timeout", Value: defaults.Seconds(defaults.ClientHBTimeout), Usage: "leader timeout before reconnect, seconds"},
	)
}

func consumerFlags() []cli.Flag {
	return append(clientFlags(),
		&cli.BoolFlag{Name: "no-analytics", Usage: "receive raw records only"},
		&cli.IntFlag{Name: "window", Aliases: []string{"w"}, Usage: "analytics window, seconds (0 = broker default)"},
		&cli.IntFlag{Name: "interval", Usage: "analytics update interval, ms (0 = broker default)"},
		&cli.StringFlag{Name: "group", Aliases: []string{"g"}, Usage: "consumer group: resume where the group left off; its position is stored in the cluster"},
		&cli.StringFlag{Name: "from", Usage: "where to start: beginning, latest, an offset or an RFC3339 time (with --group: moves the group's position)"},
	)
}
