// Package roles holds the command lines of LogStream's roles and the table
// the one logstream binary dispatches on.
package roles

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/logstream/logstream/pkg/internal/buildinfo"
	"github.com/logstream/logstream/pkg/internal/ctl"
	"github.com/logstream/logstream/pkg/internal/multicall"
	"github.com/logstream/logstream/pkg/internal/netdiag"
)

// Registry is every role of the logstream binary.
func Registry() *multicall.Registry {
	var reg *multicall.Registry
	reg = multicall.NewRegistry("broker",
		multicall.Role{Name: "broker", Usage: "run a broker (the default; configured by environment variables)", Run: brokerMain},
		multicall.Role{Name: "producer", Link: "producer", Usage: "send records to a topic", Run: producerMain},
		multicall.Role{Name: "consumer", Link: "consumer", Usage: "read a topic, raw or with live analytics", Run: consumerMain},
		multicall.Role{Name: "ctl", Link: "logstreamctl", Usage: "manage local brokers and clients, show cluster status (logstreamctl)", Run: ctl.Run},
		multicall.Role{Name: "netdiag", Usage: "show network interfaces and what discovery would use", Run: netdiag.Run},
		multicall.Role{Name: "bench", Usage: "load generator: throughput and latency of a cluster", Run: benchMain},
		multicall.Role{Name: "version", Usage: "print the version", Run: func(_ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "logstream", buildinfo.String())
			return 0
		}},
		multicall.Role{Name: "install", Usage: "create the logstreamctl, producer and consumer symlinks beside the binary (or in DIR)",
			Run: func(args []string, stdout, stderr io.Writer) int { return runInstall(reg, args, stdout, stderr) }},
	)
	return reg
}

func runInstall(reg *multicall.Registry, args []string, stdout, stderr io.Writer) int {
	if len(args) > 2 || (len(args) == 2 && (args[1] == "-h" || args[1] == "--help")) {
		fmt.Fprintf(stderr, "usage: logstream install [DIR]   (default: the directory of the binary)\n")
		if len(args) == 2 {
			return 0
		}
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "install: %v\n", err)
		return 1
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	dir := filepath.Dir(exe)
	if len(args) == 2 {
		dir = args[1]
	}
	if err := reg.Install(exe, dir, stdout); err != nil {
		fmt.Fprintf(stderr, "install: %v\n", err)
		return 1
	}
	return 0
}
