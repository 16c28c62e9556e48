package roles

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/wire"
)

// keyFlag is --cluster-key-file, shared by every role. The secret itself
// comes from LOGSTREAM_CLUSTER_KEY only (never a flag: command lines are
// visible to every user of the machine in ps).
func keyFlag() cli.Flag {
	return &cli.StringFlag{Name: "cluster-key-file", EnvVars: []string{wire.KeyFileEnv},
		Usage: "file holding the cluster key (or set " + wire.KeyEnv + "): every frame to and from brokers is " +
			"authenticated with it, and processes without the same key are refused; default: an open cluster"}
}

// clusterKey loads the key of keyFlag; an unusable one is a usage error
// (one line, exit status 2).
func clusterKey(c *cli.Context) (*wire.Key, error) {
	k, err := wire.LoadKey(os.Getenv(wire.KeyEnv), c.String("cluster-key-file"))
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	return k, nil
}

// validName checks a process name against defaults.NamePattern: it names a
// data directory and prefixes client ids.
func validName(name string) error {
	if !defaults.ValidName(name) {
		return errors.New(defaults.NameRule)
	}
	return nil
}

// frameRange is the usage error's wording of the MAX_FRAME bounds.
var frameRange = fmt.Sprintf("want %d to %d bytes", defaults.MinFrame, defaults.MaxFrameLimit)
