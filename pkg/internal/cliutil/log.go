// Package cliutil holds what every LogStream role's command line shares:
// logging flags, the root logger, and how errors become one line and an exit
// status.
package cliutil

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// logFlags are accepted by every role.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"LOG_LEVEL"},
			Usage: "trace, debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"LOG_FORMAT"},
			Usage: "console (human), json, or auto (console on a terminal, else json)"},
	}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// NewLogger builds the root logger of a process from the log flags. Logs go
// to w (stderr): stdout is reserved for data such as consumed records. An
// empty component leaves the field to sub-loggers (a broker names several).
func NewLogger(c *cli.Context, w io.Writer, component string) (zerolog.Logger, error) {
	return buildLogger(c.String("log-level"), c.String("log-format"), w, component)
}

// buildLogger is NewLogger without a cli.Context.
func buildLogger(level, format string, w io.Writer, component string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(strings.TrimSpace(level)))
	if err != nil || level == "" {
		return zerolog.Nop(), UsageError("--log-level (LOG_LEVEL)", level, "want trace, debug, info, warn or error")
	}
	switch format {
	case "auto":
		if IsTerminal(w) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !IsTerminal(w)}
	case "json":
	default:
		return zerolog.Nop(), UsageError("--log-format (LOG_FORMAT)", format, "want console, json or auto")
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	ctx := zerolog.New(w).Level(lvl).With().Timestamp()
	if component != "" {
		ctx = ctx.Str("component", component)
	}
	return ctx.Logger(), nil
}

// UsageError is a command-line mistake: reported as one line, exit status 2.
func UsageError(flag, value, why string) error {
	return cli.Exit(fmt.Sprintf("invalid value %q for %s: %s", value, flag, why), 2)
}
