// Command consumer is the consumer role of the logstream binary, built on its own only
// because the manual's build line names this file. The usual way is one
// logstream binary and its symlinks (logstream install).
package main

import (
	"os"

	"github.com/logstream/logstream/pkg/roles"
)

func main() {
	args := append([]string{"consumer"}, os.Args[1:]...)
	os.Exit(roles.Registry().Main(args, os.Stdout, os.Stderr))
}
