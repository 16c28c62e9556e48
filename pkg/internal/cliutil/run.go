package cliutil

import (
	"errors"
	"fmt"
	"io"
	"regexp"
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

func onUsageError(c *cli.Context, err error, _ bool) error {
	if msg, ok := ValueError(c, err.Error()); ok {
		return cli.Exit(msg, 2)
	}
	return cli.Exit(strings.TrimPrefix(err.Error(), "flag provided but not defined: ")+usageHint(err), 2)
}

// The parser's own words for a value it cannot read, from a flag or from
// an environment variable: "parse error", or strconv's internals.
var (
	flagValueRE = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([\w-]+): `)
	envValueRE  = regexp.MustCompile(`^could not parse "(.*)" as \w+ value from (?:environment variable|\w+) "(\w+)" for flag ([\w-]+): `)
)

// ValueError rewrites the parser's message for an unreadable value into the
// form every other refusal has: invalid value "V" for -flag (or ENV
// (--flag)): want WHAT, where WHAT comes from the flag's type. ok is false
// for any other message.
func ValueError(c *cli.Context, msg string) (string, bool) {
	if m := flagValueRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("invalid value %q for -%s: want %s", m[1], m[2], wantFor(c, m[2])), true
	}
	if m := envValueRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("invalid value %q for %s (--%s): want %s", m[1], m[2], m[3], wantFor(c, m[3])), true
	}
	return "", false
}

// wantFor says what a flag's type accepts.
func wantFor(c *cli.Context, name string) string {
	var flags []cli.Flag
	if c != nil {
		if c.Command != nil {
			flags = append(flags, c.Command.Flags...)
		}
		if c.App != nil {
			flags = append(flags, c.App.Flags...)
		}
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			switch f.(type) {
			case *cli.IntFlag, *cli.Int64Flag:
				return "a whole number"
			case *cli.UintFlag, *cli.Uint64Flag:
				return "a whole number >= 0"
			case *cli.BoolFlag:
				return "true or false"
			case *cli.DurationFlag:
				return "a duration such as 1s or 500ms"
			case *cli.Float64Flag:
				return "a number"
			}
		}
	}
	return "a value of the right kind (see --help)"
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
