// The manual builds the broker with `go build -o logstream main.go` from the
// top of the repository; this file makes that line work. It is the same
// program as cmd/logstream.
package main

import (
	"os"

	"github.com/logstream/logstream/pkg/roles"
)

func main() { os.Exit(roles.Registry().Main(os.Args, os.Stdout, os.Stderr)) }
