package ctl

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// stopOptions are the parsed options of `stop`.
type stopOptions struct {
	Names []string
	All   bool
	Grace time.Duration
}

func stopCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop a managed process (SIGTERM, then SIGKILL after the grace period)",
		UsageText: "logstreamctl stop NAME... | logstreamctl stop --all",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "stop every managed process"},
			&cli.DurationFlag{Name: "grace", Aliases: []string{"g"}, Value: 5 * time.Second, Usage: "how long to wait after SIGTERM before SIGKILL"},
		},
		Action: func(c *cli.Context) error {
			opts := stopOptions{Names: c.Args().Slice(), All: c.Bool("all"), Grace: c.Duration("grace")}
			if opts.All == (len(opts.Names) > 0) {
				return usageErrorf("stop: give a process NAME or --all (see logstreamctl list)")
			}
			if opts.Grace < 0 || opts.Grace > 10*time.Minute {
				return usageErrorf("invalid value %s for --grace: want 0s to 10m", opts.Grace)
			}
			for _, n := range opts.Names {
				if err := validName(n); err != nil {
					return err
				}
			}
			if h, err := e.intercepted(opts); h {
				return err
			}
			return runStop(e, opts)
		},
	}
}

func runStop(e *env, opts stopOptions) error {
	st, paths, err := e.store()
	if err != nil {
		return err
	}
	m, err := st.Load()
	if err != nil {
		return err
	}
	var targets []stateEntry
	var failures []string
	if opts.All {
		targets = sortedEntries(m)
		if len(targets) == 0 {
			fmt.Fprintln(e.stdout, "no managed processes")
			return nil
		}
	} else {
		for _, n := range opts.Names {
			en, ok := m[n]
			if !ok {
				failures = append(failures, fmt.Sprintf("no process named %s; see logstreamctl list", n))
				continue
			}
			targets = append(targets, en)
		}
	}
	// Clients first, then brokers, so clients do not spend their last
	// seconds reconnecting to brokers that are going away.
	var clients, brokers []stateEntry
	for _, t := range targets {
		if t.Type == "broker" {
			brokers = append(brokers, t)
		} else {
			clients = append(clients, t)
		}
	}
	var mu sync.Mutex
	for _, group := range [][]stateEntry{clients, brokers} {
		var wg sync.WaitGroup
		for _, t := range group {
			wg.Add(1)
			go func(t stateEntry) {
				defer wg.Done()
				msg, err := stopOne(t, opts.Grace)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s: %v", t.Name, err))
					return
				}
				fmt.Fprintln(e.stdout, msg)
			}(t)
		}
		wg.Wait()
	}
	// Forget everything that is gone, by PID, so an entry re-created by a
	// concurrent start under the same name survives.
	err = st.Update(func(cur map[string]stateEntry) error {
		for _, t := range targets {
			if en, ok := cur[t.Name]; ok && en.PID == t.PID && !isOurs(en.PID, en.StartTicks) {
				delete(cur, t.Name)
				removePidFile(paths.PidFile(t.Name), t.PID)
			}
		}
		return nil
	})
	if err != nil {
		failures = append(failures, err.Error())
	}
	if len(failures) > 0 {
		sort.Strings(failures)
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

// pollDeath bounds how often we look at /proc while waiting.
const pollDeath = 20 * time.Millisecond

// stopOne sends SIGTERM, waits up to grace, then SIGKILL. It re-checks the
// process identity before every signal.
func stopOne(t stateEntry, grace time.Duration) (string, error) {
	if !isOurs(t.PID, t.StartTicks) {
		return fmt.Sprintf("%s was not running (stale entry removed)", t.Name), nil
	}
	if err := signalOurs(t.PID, t.StartTicks, syscall.SIGTERM); err != nil {
		if errors.Is(err, errGone) {
			return fmt.Sprintf("stopped %s (PID %d)", t.Name, t.PID), nil
		}
		return "", fmt.Errorf("SIGTERM PID %d: %w", t.PID, err)
	}
	if waitGone(t, grace) {
		return fmt.Sprintf("stopped %s (PID %d)", t.Name, t.PID), nil
	}
	if err := signalOurs(t.PID, t.StartTicks, syscall.SIGKILL); err != nil && !errors.Is(err, errGone) {
		return "", fmt.Errorf("SIGKILL PID %d: %w", t.PID, err)
	}
	if waitGone(t, 5*time.Second) {
		return fmt.Sprintf("killed %s (PID %d): it did not stop within %s of SIGTERM", t.Name, t.PID, grace), nil
	}
	return "", fmt.Errorf("PID %d is still running after SIGKILL", t.PID)
}

// waitGone waits until the process is no longer ours or d has passed.
func waitGone(t stateEntry, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !isOurs(t.PID, t.StartTicks) {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(pollDeath)
	}
}
