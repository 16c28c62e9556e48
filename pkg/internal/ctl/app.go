// Package ctl is the logstreamctl role: a process manager that starts
// brokers, producers and consumers in the foreground or as daemons, records
// them in ~/.logstream/processes.json, stops them, shows their logs, and asks
// running brokers for the cluster's state.
package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/buildinfo"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/wire"
)

// env is what the commands need from the outside world. Run uses the real
// one; tests replace the launcher, the broker querier, the clock and the
// port probe so no real LogStream process or socket is ever involved.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	launcher       processLauncher
	querier        brokerQuerier
	// discover finds the cluster's leader by broadcast, as clients do
	// (`status` with no broker managed here); tests fake it.
	discover func(ctx context.Context, port uint16, key *wire.Key) (string, error)
	now      func() time.Time
	portFree func(port int) bool
	localIP  func() string
	childExe func() (string, error)
	// intercept, when set, sees each command's parsed options first and may
	// handle them itself (tests check parsing without side effects).
	intercept func(opts any) (handled bool, err error)
	poll      time.Duration // logs --follow poll interval
	// startWait bounds the wait for a background child to say it runs.
	startWait time.Duration
	// ttyForeground reports whether our process group is the foreground
	// job of a terminal (so a Ctrl-C there already reached our child).
	ttyForeground func() bool
}

func defaultEnv(stdout, stderr io.Writer) *env {
	e := &env{
		stdin:     os.Stdin,
		stdout:    stdout,
		stderr:    stderr,
		getenv:    os.Getenv,
		launcher:  execLauncher{},
		querier:   wireQuerier{},
		discover:  discoverLeader,
		now:       time.Now,
		portFree:  portFreeLocally,
		localIP:   primaryIPv4,
		poll:      250 * time.Millisecond,
		startWait: defaults.CtlStartWait,

		ttyForeground: inTerminalForeground,
	}
	e.childExe = func() (string, error) {
		// The child binary is injectable so tests can run a harmless helper
		// instead of a real broker.
		if p := e.getenv("LOGSTREAM_CTL_CHILD"); p != "" {
			return p, nil
		}
		return os.Executable()
	}
	return e
}

func (e *env) store() (*stateStore, statePaths, error) {
	p, err := resolvePaths(e.getenv)
	if err != nil {
		return nil, statePaths{}, err
	}
	return newStore(p), p, nil
}

// intercepted lets a test take over a command after parsing.
func (e *env) intercepted(opts any) (bool, error) {
	if e.intercept == nil {
		return false, nil
	}
	return e.intercept(opts)
}

// usageError is a command-line mistake: one line on stderr, exit status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// exitStatus passes a foreground child's exit status through silently.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run parses args (args[0] is the program name), runs the command and
// returns the exit status: 0 ok, 1 operational failure, 2 usage error, or a
// foreground child's own status. Errors are printed as one line on stderr.
func Run(args []string, stdout, stderr io.Writer) int {
	return runWith(context.Background(), defaultEnv(stdout, stderr), args)
}

func runWith(ctx context.Context, e *env, args []string) (code int) {
	// A bug must still end as one line and a status, never a stack trace.
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(e.stderr, "logstreamctl: internal error: %v (please report this)\n", p)
			code = 1
		}
	}()
	app := newApp(e)
	if len(args) == 0 {
		args = []string{app.Name}
	}
	args = normalizeArgs(args, appLookup(app))
	return report(e.stderr, app.RunContext(ctx, args))
}

// report maps an error to an exit status and prints it as one line.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var st *exitStatus
	if errors.As(err, &st) {
		return st.code
	}
	code := 1
	var ue *usageError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ue):
		code = 2
	case errors.As(err, &ec):
		code = ec.ExitCode()
		if code == 0 {
			return 0
		}
	}
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	if msg != "" {
		fmt.Fprintf(stderr, "logstreamctl: %s\n", msg)
	}
	return code
}

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:      "logstreamctl",
		Usage:     "start, stop and inspect LogStream brokers, producers and consumers",
		UsageText: "logstreamctl COMMAND [options] [arguments]",
		Version:   buildinfo.String(),
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		// cli must never call os.Exit itself: Run maps errors to statuses.
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q; see logstreamctl help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			startCommand(e),
			stopCommand(e),
			listCommand(e),
			logsCommand(e),
			statusCommand(e),
			groupsCommand(e),
			electionCommand(e),
			monitorTokenCommand(e),
			configCommand(e),
			versionCommand(e),
			completionCommand(e),
		},
	}
	app.OnUsageError = onUsageError
	setUsageHandlers(app.Commands)
	return app
}

func setUsageHandlers(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		setUsageHandlers(c.Subcommands)
	}
}

// onUsageError turns a flag-parsing error into one line naming the command
// and the flag, instead of cli's "Incorrect Usage" plus a page of help.
func onUsageError(c *cli.Context, err error, _ bool) error {
	help := "logstreamctl"
	if c.Command != nil && c.Command.HelpName != "" {
		help = c.Command.HelpName
	}
	msg := err.Error()
	if m, ok := cliutil.ValueError(c, msg); ok { // not "parse error"
		msg = strings.Replace(m, " for -", " for --", 1)
	}
	// Go's flag package says "-lines"; users type "--lines".
	msg = strings.Replace(msg, "flag provided but not defined: -", "unknown option --", 1)
	msg = strings.Replace(msg, " for flag -", " for --", 1)
	msg = strings.Replace(msg, "flag needs an argument: -", "option needs a value: --", 1)
	if cmd := strings.TrimPrefix(strings.TrimPrefix(help, "logstreamctl"), " "); cmd != "" {
		msg = cmd + ": " + msg
	}
	return usageErrorf("%s (see %s --help)", msg, help)
}

// noArgs rejects stray positional arguments on commands that take none.
func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return usageErrorf("%s: unexpected argument %q", strings.TrimPrefix(c.Command.HelpName, "logstreamctl "), c.Args().First())
	}
	return nil
}

func versionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "logstreamctl", buildinfo.String())
			return nil
		},
	}
}

// configOptions are the parsed options of `config init|show`.
type configOptions struct {
	Action string // init or show
	JSON   bool
}

func configCommand(e *env) *cli.Command {
	run := func(action string) cli.ActionFunc {
		return func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			opts := configOptions{Action: action, JSON: c.Bool("json")}
			if h, err := e.intercepted(opts); h {
				return err
			}
			return runConfig(e, opts)
		}
	}
	return &cli.Command{
		Name:  "config",
		Usage: "initialise or show the state directory (~/.logstream, or $LOGSTREAM_HOME)",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("config: unknown subcommand %q (want init or show)", c.Args().First())
			}
			return usageErrorf("config: missing subcommand (want init or show)")
		},
		Subcommands: []*cli.Command{
			{Name: "init", Usage: "create the state directory", Action: run("init")},
			{Name: "show", Usage: "show the state directory paths", Action: run("show"),
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}}},
		},
	}
}

func runConfig(e *env, opts configOptions) error {
	st, p, err := e.store()
	if err != nil {
		return err
	}
	if opts.Action == "init" {
		// An empty update creates the directories and processes.json.
		if err := st.Update(func(map[string]stateEntry) error { return nil }); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "initialized %s\n", p.Home)
	}
	if opts.JSON {
		return writeJSON(e.stdout, p)
	}
	_, statErr := os.Stat(p.StateFile)
	fmt.Fprintf(e.stdout, "State directory: %s\n", p.Home)
	fmt.Fprintf(e.stdout, "Process state:   %s\n", p.StateFile)
	fmt.Fprintf(e.stdout, "PID files:       %s\n", p.PidDir)
	fmt.Fprintf(e.stdout, "Log files:       %s\n", p.LogDir)
	fmt.Fprintf(e.stdout, "Broker data:     %s\n", p.DataDir)
	if statErr != nil {
		fmt.Fprintf(e.stdout, "(not initialized yet: run logstreamctl config init)\n")
	}
	return nil
}
