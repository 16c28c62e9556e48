package ctl

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/wire"
)

// monitorTokenCommand prints the bearer token a broker's monitoring
// listener wants when the cluster has a key.
func monitorTokenCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "monitor-token",
		Usage:     "print the bearer token of the brokers' monitoring endpoints (derived from the cluster key)",
		UsageText: "curl -H \"Authorization: Bearer $(logstreamctl monitor-token)\" http://IP:PORT/metrics",
		Flags:     []cli.Flag{keyFileFlag()},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			k, err := e.clusterKey(c)
			if err != nil {
				return err
			}
			if k == nil {
				return usageErrorf("monitor-token: no cluster key (set %s or --cluster-key-file); an open cluster's monitor wants no token", wire.KeyEnv)
			}
			fmt.Fprintln(e.stdout, k.MonitorToken())
			return nil
		},
	}
}
