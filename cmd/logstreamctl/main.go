// Command logstreamctl is the logstreamctl role of the logstream binary, built on its own only
// because the manual's build line names this file. The usual way is one
// logstream binary and its symlinks (logstream install).
package main

import (
	"os"
	"path/filepath"

	"github.com/logstream/logstream/pkg/roles"
)

func main() {
	args := os.Args
	// logstreamctl starts brokers, producers and consumers by running its
	// own executable called "logstream ROLE" (it links every role); any
	// other name is the user calling logstreamctl.
	if len(args) == 0 || filepath.Base(args[0]) != "logstream" {
		args = append([]string{"logstreamctl"}, os.Args[1:]...)
	}
	os.Exit(roles.Registry().Main(args, os.Stdout, os.Stderr))
}
