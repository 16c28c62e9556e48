package roles

import (
	"errors"
	"os"
	"regexp"

	"github.com/urfave/cli/v2"

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

// nameRE is what a process name may look like: it names a data directory and
// prefixes client ids, so nothing that could climb out of a directory.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func validName(name string) error {
	if !nameRE.MatchString(name) {
		return errors.New("use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}
