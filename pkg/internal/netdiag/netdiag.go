package netdiag

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/netaddr"
)

// Run is the netdiag role's entry point; args[0] is the program name. Exit
// status: 0 all well, 1 a self-test check failed or no address is usable,
// 2 a usage error.
func Run(args []string, stdout, stderr io.Writer) int {
	return run(args, stdout, stderr, netaddr.Interfaces)
}

// run takes the interface source so tests can show any host.
func run(args []string, stdout, stderr io.Writer, interfaces func() ([]netaddr.Iface, error)) int {
	app := cliutil.Prepare(newApp(stdout, interfaces), stdout, stderr)
	if len(args) > 0 {
		app.Name = args[0]
	}
	return cliutil.Run(app, args)
}

func newApp(stdout io.Writer, interfaces func() ([]netaddr.Iface, error)) *cli.App {
	return &cli.App{
		Name:  "netdiag",
		Usage: "show network interfaces and what LogStream discovery would use",
		Description: "Lists interfaces with their state, addresses, broadcast address and multicast capability,\n" +
			"and which address LogStream would advertise and why.\n\n" +
			"--self-test checks UDP broadcast and multicast on LOOPBACK ONLY (127.255.255.255, and the\n" +
			"group through lo with TTL 1): nothing leaves this host. Add --on-network to also test on\n" +
			"the interface LogStream would use; that sends two datagrams onto your LAN (TTL 1).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.BoolFlag{Name: "self-test", Usage: "check UDP broadcast and multicast on loopback (never leaves this host)"},
			&cli.BoolFlag{Name: "on-network", Usage: "with --self-test, also send test datagrams on the LAN interface LogStream would use"},
			&cli.UintFlag{Name: "broadcast-port", Aliases: []string{"b"}, Value: defaults.DiscoveryPort, EnvVars: []string{"BROADCAST_PORT"},
				Usage: "discovery port (used by --on-network and for the JOIN targets shown)"},
			&cli.StringFlag{Name: "multicast", Aliases: []string{"m"}, Value: defaults.MulticastGroup, EnvVars: []string{"MULTICAST_GROUP"},
				Usage: "multicast group IP:PORT to test"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "how long each self-test check waits for its datagram"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unexpected argument %q (see --help)", c.Args().First()), 2)
			}
			port := c.Uint("broadcast-port")
			if port == 0 || port > 65535 {
				return cli.Exit(fmt.Sprintf("--broadcast-port: port %d out of range (1-65535)", port), 2)
			}
			group, err := netip.ParseAddrPort(c.String("multicast"))
			if err != nil || !group.Addr().Is4() || !group.Addr().IsMulticast() || group.Port() == 0 {
				return cli.Exit(fmt.Sprintf("--multicast: %q is not an IPv4 multicast group IP:PORT such as 239.0.0.1:9999", c.String("multicast")), 2)
			}
			if c.Duration("timeout") <= 0 {
				return cli.Exit("--timeout: must be positive", 2)
			}
			if c.Bool("on-network") && !c.Bool("self-test") {
				return cli.Exit("--on-network only makes sense with --self-test", 2)
			}
			ifs, err := interfaces()
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			rep := buildReport(ifs, uint16(port), group)
			if c.Bool("self-test") {
				cfg := selfTestConfig{Group: group.Addr(), Timeout: c.Duration("timeout"),
					NetBroadcastPort: uint16(port), NetGroupPort: group.Port()}
				if c.Bool("on-network") {
					ch, err := netaddr.Pick(ifs)
					if err != nil {
						return cli.Exit("--on-network: "+err.Error(), 1)
					}
					cfg.OnNetwork = &ch
				}
				rep.SelfTest = selfTest(c.Context, cfg)
			}
			if err := write(stdout, rep, c.Bool("json")); err != nil {
				return err
			}
			return verdict(rep)
		},
	}
}

func write(w io.Writer, rep report, asJSON bool) error {
	if !asJSON {
		return writeText(w, rep)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// verdict turns the report into the exit status; the report itself already
// says what is wrong, so the error line is short.
func verdict(rep report) error {
	failed := 0
	for _, c := range rep.SelfTest {
		if !c.OK {
			failed++
		}
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("%d self-test check(s) failed", failed), 1)
	}
	if rep.Choice == nil {
		return cli.Exit("no usable address: "+rep.ChoiceError, 1)
	}
	return nil
}
