package ctl

import (
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/wire"
)

// keyFileFlag is --cluster-key-file on the commands that talk to brokers or
// start processes. LOGSTREAM_CLUSTER_KEY in the environment works too, and
// children inherit it; a key file is passed to them as
// LOGSTREAM_CLUSTER_KEY_FILE.
func keyFileFlag() cli.Flag {
	return &cli.StringFlag{Name: "cluster-key-file", EnvVars: []string{wire.KeyFileEnv},
		Usage: "file holding the cluster key (or set " + wire.KeyEnv + "); given to started processes and used for status and election queries"}
}

// clusterKey loads the key the command was given (nil: an open cluster);
// an unusable key is a usage error.
func (e *env) clusterKey(c *cli.Context) (*wire.Key, error) {
	k, err := wire.LoadKey(e.getenv(wire.KeyEnv), c.String("cluster-key-file"))
	if err != nil {
		return nil, usageErrorf("%s", err.Error())
	}
	return k, nil
}

// keyedQuerier is the command's querier with key k.
func (e *env) keyedQuerier(c *cli.Context) (brokerQuerier, error) {
	k, err := e.clusterKey(c)
	if err != nil {
		return nil, err
	}
	if q, ok := e.querier.(wireQuerier); ok {
		q.Key = k
		return q, nil
	}
	return e.querier, nil // a test's fake
}

// keyEnv is what a started child needs to find the key file: its absolute
// path, since the child may run in another directory.
func keyEnv(c *cli.Context) ([]string, error) {
	f := c.String("cluster-key-file")
	if f == "" || !c.IsSet("cluster-key-file") {
		return nil, nil
	}
	abs, err := filepath.Abs(f)
	if err != nil {
		return nil, err
	}
	return []string{wire.KeyFileEnv + "=" + abs}, nil
}
