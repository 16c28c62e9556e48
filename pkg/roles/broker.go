package roles

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/monitor"
	"github.com/logstream/logstream/pkg/netaddr"
	"github.com/logstream/logstream/pkg/topiclog"
)

func secondsFlag(name, env string, def int, usage string) *cli.IntFlag {
	return &cli.IntFlag{Name: name, EnvVars: []string{env}, Value: def, Usage: usage + " (seconds)"}
}

// brokerApp is the broker's command line. The manual configures a broker by
// environment variables; every variable is also a flag of the same meaning.
func brokerApp() *cli.App {
	d := broker.DefaultConfig()
	md := monitor.DefaultOptions()
	return &cli.App{
		Name:      "logstream",
		Usage:     "a LogStream broker (configured by environment variables or the flags below)",
		UsageText: "logstream [broker] [OPTIONS]    e.g.  NODE_ADDRESS=10.0.0.5:8001 logstream",
		Description: "The broker logs to standard error (JSON when it is not a terminal). To keep its log in the\n" +
			"node.log the manual's troubleshooting greps read, redirect it:  logstream 2>>node.log\n" +
			"(logstreamctl start broker --background writes it to ~/.logstream/logs/NAME.log).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", EnvVars: []string{"NODE_NAME"}, Usage: "broker name (names its data directory; default derived from the address)"},
			&cli.StringFlag{Name: "address", EnvVars: []string{"NODE_ADDRESS"}, Usage: fmt.Sprintf("IP:PORT, or just PORT, or empty for auto-detected IP and port %d; the address clients are given", defaults.BrokerPort)},
			&cli.StringFlag{Name: "bind", EnvVars: []string{"BIND_ADDRESS"}, Usage: "IP:PORT to listen on when it differs from --address (NAT); default: --address"},
			&cli.StringFlag{Name: "multicast", EnvVars: []string{"MULTICAST_GROUP"}, Value: d.Multicast.String(), Usage: "multicast group for heartbeats and replication"},
			&cli.UintFlag{Name: "broadcast-port", EnvVars: []string{"BROADCAST_PORT"}, Value: uint(d.BroadcastPort), Usage: "UDP broadcast port for discovery"},
			&cli.StringFlag{Name: "leader", EnvVars: []string{"LEADER_ADDRESS"}, Usage: "explicit leader IP:PORT (bypasses broadcast discovery)"},
			&cli.Int64Flag{Name: "max-records", EnvVars: []string{"MAX_RECORDS_PER_TOPIC"}, Value: d.MaxRecords, Usage: "records kept per topic (0 = unlimited)"},
			secondsFlag("analytics-window", "ANALYTICS_WINDOW_SECONDS", defaults.Seconds(d.AnalyticsWindow), "default analytics window"),
			secondsFlag("broker-hb-interval", "BROKER_HB_INTERVAL", defaults.Seconds(d.BrokerHBInterval), "leader->follower heartbeat interval"),
			secondsFlag("client-hb-interval", "CLIENT_HB_INTERVAL", defaults.Seconds(d.ClientHBInterval), "leader->client heartbeat interval"),
			secondsFlag("broker-timeout", "BROKER_TIMEOUT", defaults.Seconds(d.BrokerTimeout), "dead broker removal timeout"),
			secondsFlag("client-timeout", "CLIENT_TIMEOUT", defaults.Seconds(d.ClientTimeout), "dead client removal timeout"),
			secondsFlag("follower-hb-interval", "FOLLOWER_HB_INTERVAL", defaults.Seconds(d.FollowerHBInterval), "follower->leader heartbeat interval"),
			secondsFlag("suspicion-timeout", "SUSPICION_TIMEOUT", defaults.Seconds(d.SuspicionTimeout), "silence before the leader is suspected"),
			secondsFlag("failure-timeout", "FAILURE_TIMEOUT", defaults.Seconds(d.FailureTimeout), "silence before the leader is declared failed"),
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{"DATA_DIR"}, Usage: "where topic logs live (default $LOGSTREAM_HOME/data/NAME, LOGSTREAM_HOME defaults to ~/.logstream)"},
			&cli.StringFlag{Name: "flush", EnvVars: []string{"FLUSH_POLICY"}, Value: defaults.FlushPolicy, Usage: "when acknowledged records are fsynced: none (page cache; replicas give durability), batch (before every acknowledgement), interval (every --flush-interval)"},
			&cli.DurationFlag{Name: "flush-interval", EnvVars: []string{"FLUSH_INTERVAL"}, Value: d.FlushEvery, Usage: "fsync period with --flush interval"},
			&cli.IntFlag{Name: "max-frame", EnvVars: []string{"MAX_FRAME"}, Value: d.MaxFrame, Usage: "largest accepted frame body in bytes"},
			keyFlag(),
			&cli.IntFlag{Name: "max-connections", EnvVars: []string{"MAX_CONNECTIONS"}, Value: d.MaxConns, Usage: "client and broker connections accepted at once; more are refused"},
			&cli.IntFlag{Name: "max-connections-per-ip", EnvVars: []string{"MAX_CONNECTIONS_PER_IP"}, Value: d.MaxConnsPerIP, Usage: "connections accepted at once from one IP address"},
			&cli.IntFlag{Name: "max-inflight-records", EnvVars: []string{"MAX_INFLIGHT_RECORDS"}, Value: d.MaxInFlightRecords, Usage: "records one producer connection may have unacknowledged before the broker stops reading it"},
			secondsFlag("handshake-timeout", "HANDSHAKE_TIMEOUT", defaults.Seconds(d.HandshakeTimeout), "time a new connection has to send its first whole frame"),
			secondsFlag("group-lease-timeout", "GROUP_LEASE_TIMEOUT", defaults.Seconds(d.GroupLeaseTimeout), "shared consumer groups: how long a member may hold records without acknowledging any before they go to another member"),
			&cli.StringFlag{Name: "monitor-address", EnvVars: []string{"MONITOR_ADDRESS"}, Usage: "IP:PORT of the monitoring listener (/metrics, /healthz, /readyz, /status, dashboard at /); default: off"},
			&cli.BoolFlag{Name: "monitor-pprof", EnvVars: []string{"MONITOR_PPROF"}, Value: md.Pprof, Usage: "also serve /debug/pprof/ on the monitoring listener"},
		},
		Action: runBroker,
	}
}

func runBroker(c *cli.Context) error {
	log, err := cliutil.NewLogger(c, c.App.ErrWriter, "")
	if err != nil {
		return err
	}
	cfg, err := brokerConfig(c)
	if err != nil {
		return err
	}
	cfg.Logger = log
	mopts, err := monitorOptions(c, cfg)
	if err != nil {
		return err
	}
	var mon *monitor.Server
	if mopts.Enabled() {
		mopts.Logger = log
		metrics := monitor.NewMetrics()
		cfg.Observer = metrics
		if mon, err = monitor.Listen(mopts, metrics); err != nil {
			return cli.Exit(err.Error(), 1)
		}
	}
	b, err := broker.New(cfg)
	if err != nil {
		if mon != nil {
			mon.Close()
		}
		return cli.Exit(err.Error(), 1)
	}
	// Opened, checked and listening: tell logstreamctl (if it started us).
	cliutil.SignalReady()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	elect := make(chan os.Signal, 1)
	signal.Notify(elect, syscall.SIGUSR1)
	defer signal.Stop(elect)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-elect:
				b.TriggerElection("SIGUSR1")
			}
		}
	}()
	go b.ServeConsole(ctx, os.Stdin, c.App.Writer)
	var monDone chan struct{}
	if mon != nil {
		monDone = make(chan struct{})
		mctx, stopMon := context.WithCancel(ctx)
		defer func() { stopMon(); <-monDone }()
		go func() {
			defer close(monDone)
			// The monitor failing is logged; the broker goes on serving.
			if err := mon.Serve(mctx, b); err != nil {
				log.Error().Err(err).Msg("monitor stopped")
			}
		}()
	}
	if err := b.Run(ctx); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}

// monitorOptions reads --monitor-address and --monitor-pprof; with a cluster
// key the monitor wants its token.
func monitorOptions(c *cli.Context, cfg broker.Config) (monitor.Options, error) {
	o := monitor.DefaultOptions()
	if s := c.String("monitor-address"); s != "" {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return o, cliutil.UsageError("--monitor-address (MONITOR_ADDRESS)", s, "want IP:PORT, such as 127.0.0.1:9464")
		}
		o.Address = ap
	}
	o.Pprof = c.Bool("monitor-pprof")
	if o.Pprof && !o.Enabled() {
		return o, cliutil.UsageError("--monitor-pprof (MONITOR_PPROF)", "true", "needs --monitor-address")
	}
	if cfg.Key != nil {
		o.Token = cfg.Key.MonitorToken()
	}
	return o, nil
}

func brokerConfig(c *cli.Context) (broker.Config, error) {
	cfg := broker.DefaultConfig()
	if c.NArg() > 0 {
		return cfg, cli.Exit(fmt.Sprintf("unexpected argument %q (the broker takes options only; see --help)", c.Args().First()), 2)
	}
	choice, chooseErr := autoChoice()
	auto := func() (netip.Addr, error) { return choice.IP, chooseErr }
	adv, err := netaddr.ParseBrokerAddress(c.String("address"), defaults.BrokerPort, auto)
	if err != nil {
		return cfg, cliutil.UsageError("--address (NODE_ADDRESS)", c.String("address"), err.Error())
	}
	cfg.Advertise, cfg.Listen = adv, adv
	if s := c.String("bind"); s != "" {
		if cfg.Listen, err = netip.ParseAddrPort(s); err != nil {
			return cfg, cliutil.UsageError("--bind (BIND_ADDRESS)", s, "want IP:PORT")
		}
	}
	cfg.Broadcast = broadcastFor(adv.Addr(), choice)
	if cfg.Multicast, err = netip.ParseAddrPort(c.String("multicast")); err != nil || !cfg.Multicast.Addr().IsMulticast() {
		return cfg, cliutil.UsageError("--multicast (MULTICAST_GROUP)", c.String("multicast"), "want a multicast IP:PORT such as 239.0.0.1:9999")
	}
	bp := c.Uint("broadcast-port")
	if bp == 0 || bp > 65535 {
		return cfg, cliutil.UsageError("--broadcast-port (BROADCAST_PORT)", fmt.Sprint(bp), "want a port 1-65535")
	}
	cfg.BroadcastPort = uint16(bp)
	if s := c.String("leader"); s != "" {
		if _, err := netip.ParseAddrPort(s); err != nil {
			return cfg, cliutil.UsageError("--leader (LEADER_ADDRESS)", s, "want IP:PORT")
		}
		cfg.Leader = s
	}
	cfg.MaxRecords = c.Int64("max-records")
	if cfg.MaxRecords < 0 {
		return cfg, cliutil.UsageError("--max-records (MAX_RECORDS_PER_TOPIC)", fmt.Sprint(cfg.MaxRecords), "must be 0 (unlimited) or more")
	}
	for _, s := range []struct {
		flag, env string
		dst       *time.Duration
	}{
		{"analytics-window", "ANALYTICS_WINDOW_SECONDS", &cfg.AnalyticsWindow}, {"broker-hb-interval", "BROKER_HB_INTERVAL", &cfg.BrokerHBInterval},
		{"client-hb-interval", "CLIENT_HB_INTERVAL", &cfg.ClientHBInterval}, {"broker-timeout", "BROKER_TIMEOUT", &cfg.BrokerTimeout},
		{"client-timeout", "CLIENT_TIMEOUT", &cfg.ClientTimeout}, {"follower-hb-interval", "FOLLOWER_HB_INTERVAL", &cfg.FollowerHBInterval},
		{"suspicion-timeout", "SUSPICION_TIMEOUT", &cfg.SuspicionTimeout}, {"failure-timeout", "FAILURE_TIMEOUT", &cfg.FailureTimeout},
		{"handshake-timeout", "HANDSHAKE_TIMEOUT", &cfg.HandshakeTimeout},
		{"group-lease-timeout", "GROUP_LEASE_TIMEOUT", &cfg.GroupLeaseTimeout},
	} {
		v := c.Int(s.flag)
		if v <= 0 || v > defaults.MaxSeconds {
			return cfg, cliutil.UsageError("--"+s.flag+" ("+s.env+")", fmt.Sprint(v), fmt.Sprintf("want whole seconds from 1 to %d", defaults.MaxSeconds))
		}
		*s.dst = time.Duration(v) * time.Second
	}
	if cfg.Flush, err = topiclog.ParseFlushPolicy(c.String("flush")); err != nil {
		return cfg, cliutil.UsageError("--flush (FLUSH_POLICY)", c.String("flush"), "want none, batch or interval")
	}
	cfg.FlushEvery = c.Duration("flush-interval")
	cfg.MaxFrame = c.Int("max-frame")
	if cfg.MaxFrame < defaults.MinFrame || cfg.MaxFrame > defaults.MaxFrameLimit {
		return cfg, cliutil.UsageError("--max-frame (MAX_FRAME)", fmt.Sprint(cfg.MaxFrame), frameRange)
	}
	for _, s := range []struct {
		flag, env string
		dst       *int
	}{
		{"max-connections", "MAX_CONNECTIONS", &cfg.MaxConns},
		{"max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", &cfg.MaxConnsPerIP},
		{"max-inflight-records", "MAX_INFLIGHT_RECORDS", &cfg.MaxInFlightRecords},
	} {
		v := c.Int(s.flag)
		if v < 1 || v > defaults.MaxCountSetting {
			return cfg, cliutil.UsageError("--"+s.flag+" ("+s.env+")", fmt.Sprint(v), fmt.Sprintf("want 1 to %d", defaults.MaxCountSetting))
		}
		*s.dst = v
	}
	if cfg.MaxConnsPerIP > cfg.MaxConns {
		return cfg, cliutil.UsageError("--max-connections-per-ip (MAX_CONNECTIONS_PER_IP)", fmt.Sprint(cfg.MaxConnsPerIP),
			fmt.Sprintf("must not exceed --max-connections (%d)", cfg.MaxConns))
	}
	if cfg.Key, err = clusterKey(c); err != nil {
		return cfg, err
	}
	if n := c.String("name"); n != "" {
		if err := validName(n); err != nil {
			return cfg, cliutil.UsageError("--name (NODE_NAME)", n, err.Error())
		}
	}
	cfg.Name = c.String("name")
	if cfg.Name == "" {
		cfg.Name = "broker-" + strings.NewReplacer(".", "-", ":", "-", "[", "", "]", "").Replace(adv.String())
	}
	cfg.DataDir = c.String("data-dir")
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(stateHome(), "data", cfg.Name)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, cli.Exit(err.Error(), 2)
	}
	return cfg, nil
}

// autoChoice picks the interface LogStream would advertise.
func autoChoice() (netaddr.Choice, error) {
	ifs, err := netaddr.Interfaces()
	if err != nil {
		return netaddr.Choice{}, err
	}
	return netaddr.Pick(ifs)
}

// broadcastFor returns the broadcast address of the subnet ip lives on.
func broadcastFor(ip netip.Addr, choice netaddr.Choice) netip.Addr {
	if ip.IsLoopback() {
		return netip.MustParseAddr("127.255.255.255")
	}
	if ifs, err := netaddr.Interfaces(); err == nil {
		for _, i := range ifs {
			for _, p := range i.Addrs {
				if p.Addr() == ip {
					if b, ok := netaddr.BroadcastAddr(p); ok {
						return b
					}
				}
			}
		}
	}
	if choice.Broadcast.IsValid() {
		return choice.Broadcast
	}
	return netip.IPv4Unspecified()
}

// stateHome is LogStream's state directory: $LOGSTREAM_HOME or ~/.logstream.
func stateHome() string {
	if h := os.Getenv("LOGSTREAM_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".logstream"
	}
	return filepath.Join(home, ".logstream")
}

// brokerMain is the broker role's entry point.
func brokerMain(args []string, stdout, stderr io.Writer) int {
	app := cliutil.Prepare(brokerApp(), stdout, stderr)
	app.Name = args[0]
	return cliutil.Run(app, args)
}
