package ctl

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// electionOptions are the parsed options of `election`.
type electionOptions struct {
	Name    string // a managed broker: signalled with SIGUSR1
	Address string // any broker: sent an ElectionTrigger frame
	Timeout time.Duration
}

func electionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "election",
		Usage:     "make a broker start a leader election",
		UsageText: "logstreamctl election NAME | logstreamctl election --address IP:PORT",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "address", Aliases: []string{"a"}, Usage: "broker IP:PORT to ask over TCP (any broker, not only ours)"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "how long to wait for the broker's acknowledgement"},
			keyFileFlag(),
		},
		Action: func(c *cli.Context) error {
			opts := electionOptions{Name: c.Args().First(), Address: c.String("address"), Timeout: c.Duration("timeout")}
			if c.NArg() > 1 || (opts.Name == "") == (opts.Address == "") {
				return usageErrorf("election: give one broker NAME or --address IP:PORT")
			}
			if opts.Name != "" {
				if err := validName(opts.Name); err != nil {
					return err
				}
			} else if err := hostPort("address")(opts.Address); err != nil {
				return err
			}
			if opts.Timeout <= 0 || opts.Timeout > time.Minute {
				return usageErrorf("invalid value %s for --timeout: want up to 1m", opts.Timeout)
			}
			if h, err := e.intercepted(opts); h {
				return err
			}
			q, err := e.keyedQuerier(c)
			if err != nil {
				return err
			}
			e.querier = q
			return runElection(c.Context, e, opts)
		},
	}
}

func runElection(ctx context.Context, e *env, opts electionOptions) error {
	if opts.Address != "" {
		ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		if err := e.querier.TriggerElection(ctx, opts.Address); err != nil {
			return fmt.Errorf("election on %s: %w", opts.Address, err)
		}
		fmt.Fprintf(e.stdout, "election triggered on broker %s (it acknowledged)\n", opts.Address)
		return nil
	}
	st, _, err := e.store()
	if err != nil {
		return err
	}
	m, err := st.Load()
	if err != nil {
		return err
	}
	en, ok := m[opts.Name]
	switch {
	case !ok:
		return fmt.Errorf("no process named %s; see logstreamctl list", opts.Name)
	case en.Type != "broker":
		return fmt.Errorf("%s is a %s, not a broker", opts.Name, en.Type)
	}
	if err := signalOurs(en.PID, en.StartTicks, syscall.SIGUSR1); err != nil {
		if errors.Is(err, errGone) {
			return fmt.Errorf("broker %s is not running (PID %d is gone); see logstreamctl list", opts.Name, en.PID)
		}
		return fmt.Errorf("signal broker %s: %w", opts.Name, err)
	}
	fmt.Fprintf(e.stdout, "sent SIGUSR1 to broker %s (PID %d): it starts an election; watch with: logstreamctl logs %s --follow\n",
		opts.Name, en.PID, opts.Name)
	return nil
}
