package cliutil

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/internal/buildinfo"
)

// Prepare sets what every role's App shares: output writers, the log
// flags, and usage errors reported as one line with exit status 2 instead of
// a help dump. It applies to every subcommand too.
func Prepare(app *cli.App, stdout, stderr io.Writer) *cli.App {
	app.Writer, app.ErrWriter = stdout, stderr
	app.Version = buildinfo.String() // --version on every role
	app.Flags = append(app.Flags, logFlags()...)
	app.OnUsageError = onUsageError
	app.ExitErrHandler = func(*cli.Context, error) {} // Run decides the exit status
	app.HideHelpCommand = len(app.Commands) == 0
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsageError
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return cli.Exit(strings.TrimPrefix(err.Error(), "flag provided but not defined: ")+usageHint(err), 2)
}

func usageHint(err error) string {
	if strings.Contains(err.Error(), "not defined") {
		return ": unknown option (see --help)"
	}
	return ""
}

// Run runs app with args (args[0] is the program name) and turns the outcome
// into an exit status, printing at most one line on stderr: "name: message".
func Run(app *cli.App, args []string) int {
	err := app.Run(args)
	return exitStatus(app.Name, app.ErrWriter, err)
}

// exitStatus prints err as one line prefixed by the program name and returns
// the exit status it stands for (0 for nil, the ExitCoder's code, else 1).
func exitStatus(name string, stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := strings.TrimSpace(err.Error()); msg != "" {
		fmt.Fprintf(stderr, "%s: %s\n", name, firstLine(msg))
	}
	return code
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
