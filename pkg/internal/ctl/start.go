package ctl

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func startCommand(e *env) *cli.Command {
	sub := func(kind, usage string, flags []cli.Flag) *cli.Command {
		return &cli.Command{
			Name:      kind,
			Usage:     usage,
			UsageText: "logstreamctl start " + kind + " --name NAME [options]",
			Flags:     append(flags, keyFileFlag()),
			Action:    func(c *cli.Context) error { return runStart(e, c, kind) },
		}
	}
	return &cli.Command{
		Name:      "start",
		Usage:     "start a broker, producer or consumer",
		UsageText: "logstreamctl start broker|producer|consumer --name NAME [options]",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("start: unknown process type %q (want broker, producer or consumer)", c.Args().First())
			}
			return usageErrorf("start: missing process type (want broker, producer or consumer)")
		},
		Subcommands: []*cli.Command{
			sub("broker", "start a broker node", brokerFlags()),
			sub("producer", "start a producer client", producerFlags()),
			sub("consumer", "start a consumer client", consumerFlags()),
		},
	}
}

// flagValue renders a set flag's value as the child should see it.
func flagValue(c *cli.Context, name string) string {
	return fmt.Sprint(c.Value(name))
}

// runStart validates, builds the child and launches it.
func runStart(e *env, c *cli.Context, kind string) error {
	if err := noArgs(c); err != nil {
		return err
	}
	name := c.String("name")
	if err := validName(name); err != nil {
		return err
	}
	st, paths, err := e.store()
	if err != nil {
		return err
	}
	exe, err := e.childExe()
	if err != nil {
		return fmt.Errorf("cannot find the logstream binary: %w", err)
	}
	spec := childSpec{
		Name: name, Type: kind, Path: exe, Args: []string{kind},
		Background: c.Bool("background"),
		Stdin:      e.stdin, Stdout: e.stdout, Stderr: e.stderr,
	}
	// A key that cannot work is reported here, once, not by the child.
	if _, err := e.clusterKey(c); err != nil {
		return err
	}
	if spec.Env, err = keyEnv(c); err != nil {
		return err
	}
	entry := stateEntry{Name: name, Type: kind, Exe: exe, Background: spec.Background}

	switch kind {
	case "broker":
		for _, o := range brokerOpts {
			if c.IsSet(o.flag) {
				v := flagValue(c, o.flag)
				if o.check != nil {
					if err := o.check(v); err != nil {
						return err
					}
				}
				spec.Env = append(spec.Env, o.child+"="+v)
			}
		}
		spec.Env = append(spec.Env, "NODE_NAME="+name, "DATA_DIR="+filepath.Join(paths.DataDir, name))
		entry.Topic = "-"
	default:
		opts := producerOpts
		if kind == "consumer" {
			opts = consumerOpts
		}
		spec.Args = append(spec.Args, "-name="+name)
		for _, o := range opts {
			// The topic is always passed, so the child's TOPIC environment
			// fallback cannot silently disagree with what list shows.
			if c.IsSet(o.flag) || o.flag == "topic" {
				v := flagValue(c, o.flag)
				if o.check != nil {
					if err := o.check(v); err != nil {
						return err
					}
				}
				spec.Args = append(spec.Args, "-"+o.child+"="+v)
			}
		}
		if kind == "consumer" && c.Bool("no-analytics") {
			spec.Args = append(spec.Args, "-analytics=false")
		}
		topic := c.String("topic")
		if topic == "" {
			return usageErrorf("--topic must not be empty")
		}
		entry.Topic = topic
		entry.Address = c.String("leader")
		if entry.Address == "" {
			entry.Address = "auto"
		}
		if kind == "producer" && spec.Background && c.Int("rate") == 0 && c.Int("interval") == 0 {
			return usageErrorf("a background producer needs --rate N or --interval MS: without them it reads messages from the terminal")
		}
	}

	if spec.Background {
		spec.LogPath = paths.LogFile(name)
		entry.LogFile = spec.LogPath
	}

	var child childProcess
	err = st.Update(func(m map[string]stateEntry) error {
		if old, ok := m[name]; ok && isOurs(old.PID, old.StartTicks) {
			return fmt.Errorf("%s is already running (%s, PID %d); see logstreamctl list, or logstreamctl stop %s", name, old.Type, old.PID, name)
		}
		if kind == "broker" {
			addr, display, err := brokerAddress(e, c.String("address"), m)
			if err != nil {
				return err
			}
			spec.Env = append([]string{"NODE_ADDRESS=" + addr}, spec.Env...)
			entry.Address = display
		}
		if spec.Background {
			if err := startLogHeader(spec, e.now()); err != nil {
				return err
			}
		}
		var err error
		if child, err = e.launcher.Launch(spec); err != nil {
			return err
		}
		entry.PID, entry.StartTicks = child.PID(), child.StartTicks()
		entry.Args, entry.Env, entry.StartedAt = spec.Args, spec.Env, e.now()
		m[name] = entry
		return os.WriteFile(paths.PidFile(name), []byte(strconv.Itoa(entry.PID)+"\n"), 0o644)
	})
	if err != nil {
		if child != nil {
			// Launched but not recorded: do not leave an untracked process.
			_ = child.Signal(syscall.SIGKILL)
		}
		return err
	}
	if spec.Background {
		if s, ok := child.(starter); ok {
			if running, code := s.Started(e.startWait); !running {
				return startFailed(entry, code)
			}
		}
		fmt.Fprintf(e.stdout, "started %s %s in the background\n", kind, name)
		fmt.Fprintf(e.stdout, "  PID:     %d\n", entry.PID)
		fmt.Fprintf(e.stdout, "  Address: %s\n", entry.Address)
		fmt.Fprintf(e.stdout, "  Topic:   %s\n", entry.Topic)
		fmt.Fprintf(e.stdout, "  Log:     %s\n", entry.LogFile)
		return nil
	}
	return runForeground(e, st, entry, child)
}

// starter is a background child that can say whether it got past its
// start-up checks (see cliutil.ReadyEnv).
type starter interface {
	Started(d time.Duration) (running bool, code int)
}

// startFailed reports a background child that exited at once, with the last
// line it logged (its one-line error), and its exit status (1 if it had none).
// The entry stays, so `logstreamctl logs NAME` shows the whole log.
func startFailed(en stateEntry, code int) error {
	why := "see logstreamctl logs " + en.Name
	if f, err := os.Open(en.LogFile); err == nil {
		if off, err := tailOffset(f, 1); err == nil {
			b := make([]byte, 512)
			n, _ := f.ReadAt(b, off)
			if line := strings.TrimSpace(string(b[:n])); line != "" {
				why = line + " (see logstreamctl logs " + en.Name + ")"
			}
		}
		_ = f.Close()
	}
	if code == 0 {
		code = 1
	}
	return cli.Exit(fmt.Sprintf("%s %s exited at start (exit status %d): %s", en.Type, en.Name, code, why), code)
}

// runForeground waits for an attached child, forwarding the signals that
// would otherwise only stop logstreamctl, and removes its entry afterwards.
func runForeground(e *env, st *stateStore, entry stateEntry, child childProcess) error {
	fmt.Fprintf(e.stderr, "logstreamctl: %s %s running in the foreground (PID %d); Ctrl-C stops it\n", entry.Type, entry.Name, entry.PID)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				// A Ctrl-C in the terminal goes to the whole foreground
				// job, the child included (it shares our process group).
				// Forwarding it as well would turn one Ctrl-C into two,
				// and a producer's second Ctrl-C abandons the records it
				// is still waiting to have acknowledged.
				if s == syscall.SIGINT && e.ttyForeground != nil && e.ttyForeground() {
					continue
				}
				_ = child.Signal(s)
			case <-done:
				return
			}
		}
	}()
	code, werr := child.Wait()
	signal.Stop(sigs)
	close(done)
	if err := st.removeIfSame(entry.Name, entry.PID); err != nil {
		fmt.Fprintf(e.stderr, "logstreamctl: %v\n", err)
	}
	if werr != nil {
		return fmt.Errorf("%s: %w", entry.Name, werr)
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return nil
}

// inTerminalForeground reports whether our process group is the foreground
// process group of our controlling terminal, i.e. whether the terminal
// delivers Ctrl-C to us and our foreground child alike.
func inTerminalForeground() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal: signals come from kill(1)
	}
	defer func() { _ = f.Close() }()
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// startLogHeader marks each start in the log, so a reader can tell runs apart.
func startLogHeader(spec childSpec, now time.Time) error {
	f, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	_, err = fmt.Fprintf(f, "=== logstreamctl: starting %s %s at %s: %s %s\n", spec.Type, spec.Name,
		now.Format(time.RFC3339), spec.Path, strings.Join(spec.Args, " "))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
