// Command logstream is the one LogStream binary: broker, producer, consumer
// and logstreamctl, chosen by the name it is called by or its first argument.
package main

import (
	"os"

	"github.com/logstream/logstream/pkg/roles"
)

func main() { os.Exit(roles.Registry().Main(os.Args, os.Stdout, os.Stderr)) }
