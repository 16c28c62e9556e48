package roles

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// clientFlags are shared by producer and consumer, as in the manual's tables.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "client name (prefix of its producer/consumer id)"},
		&cli.StringFlag{Name: "leader", EnvVars: []string{"LEADER_ADDRESS"}, Usage: "broker IP:PORT (default: discover by UDP broadcast)"},
		&cli.StringFlag{Name: "topic", EnvVars: []string{"TOPIC"}, Value: defaults.Topic, Usage: "topic name"},
		&cli.UintFlag{Name: "port", DefaultText: "any", Usage: "local TCP port of the client's connection (NAT/firewall port forwarding)"},
		&cli.StringFlag{Name: "address", Usage: "advertised IP (WSL/NAT: the host's LAN IP)"},
		&cli.UintFlag{Name: "broadcast-port", EnvVars: []string{"BROADCAST_PORT"}, Value: defaults.DiscoveryPort, Usage: "UDP broadcast port for discovery"},
		&cli.IntFlag{Name: "hb-interval", Value: defaults.Seconds(defaults.ClientHB), Usage: "heartbeat interval (seconds)"},
		&cli.IntFlag{Name: "hb-timeout", Value: defaults.Seconds(defaults.ClientHBTimeout), Usage: "broker silence before reconnecting (seconds)"},
		&cli.IntFlag{Name: "reconnect-attempts", Value: defaults.ReconnectAttempts, Usage: "reconnection attempts before giving up"},
		&cli.IntFlag{Name: "reconnect-delay", Value: defaults.Seconds(defaults.ReconnectDelay), Usage: "longest pause between reconnection attempts (seconds; pauses grow from 100 ms)"},
		&cli.IntFlag{Name: "max-frame", EnvVars: []string{"MAX_FRAME"}, Value: defaults.MaxFrame, Usage: "largest frame body in bytes"},
		keyFlag(),
	}
}

// clientOptions turns the shared flags into client.Options.
func clientOptions(c *cli.Context, role wire.Role, component string) (client.Options, error) {
	log, err := cliutil.NewLogger(c, c.App.ErrWriter, component)
	if err != nil {
		return client.Options{}, err
	}
	if c.NArg() > 0 {
		return client.Options{}, cli.Exit(fmt.Sprintf("unexpected argument %q (options start with -; see --help)", c.Args().First()), 2)
	}
	o := client.Options{Role: role, Logger: log, Leader: c.String("leader"), Advertise: c.String("address")}
	if o.Leader != "" {
		if err := client.ParseAddr("-leader (LEADER_ADDRESS)", o.Leader); err != nil {
			return o, cli.Exit(err.Error(), 2)
		}
	}
	if err := topiclog.ValidTopicName(c.String("topic")); err != nil {
		return o, cliutil.UsageError("-topic (TOPIC)", c.String("topic"), err.Error())
	}
	port := c.Uint("port")
	if port > 65535 {
		return o, cliutil.UsageError("-port", fmt.Sprint(port), "want a port 1-65535")
	}
	o.LocalPort = uint16(port)
	bp := c.Uint("broadcast-port")
	if bp == 0 || bp > 65535 {
		return o, cliutil.UsageError("-broadcast-port (BROADCAST_PORT)", fmt.Sprint(bp), "want a port 1-65535")
	}
	o.BroadcastPort = uint16(bp)
	for _, s := range []struct {
		flag string
		dst  *time.Duration
	}{{"hb-interval", &o.HBInterval}, {"hb-timeout", &o.HBTimeout}, {"reconnect-delay", &o.ReconnectDelay}} {
		v := c.Int(s.flag)
		if v <= 0 || v > defaults.MaxSeconds {
			return o, cliutil.UsageError("-"+s.flag, fmt.Sprint(v), fmt.Sprintf("want whole seconds from 1 to %d", defaults.MaxSeconds))
		}
		*s.dst = time.Duration(v) * time.Second
	}
	if o.HBTimeout <= o.HBInterval && !c.IsSet("hb-timeout") {
		o.HBTimeout = 3 * o.HBInterval
	}
	if o.HBTimeout <= o.HBInterval {
		return o, cli.Exit(fmt.Sprintf("-hb-timeout (%s) must be longer than -hb-interval (%s)", o.HBTimeout, o.HBInterval), 2)
	}
	o.ReconnectAttempts = c.Int("reconnect-attempts")
	if o.ReconnectAttempts <= 0 {
		return o, cliutil.UsageError("-reconnect-attempts", fmt.Sprint(o.ReconnectAttempts), "want 1 or more")
	}
	o.MaxFrame = c.Int("max-frame")
	if o.MaxFrame < defaults.MinFrame || o.MaxFrame > defaults.MaxFrameLimit {
		return o, cliutil.UsageError("-max-frame (MAX_FRAME)", fmt.Sprint(o.MaxFrame), frameRange)
	}
	if o.Key, err = clusterKey(c); err != nil {
		return o, err
	}
	name := c.String("name")
	if err := validName(name); name != "" && err != nil {
		return o, cliutil.UsageError("-name", name, err.Error())
	}
	if name == "" {
		name = component
	}
	o.ClientID = client.NewClientID(name)
	return o, nil
}
