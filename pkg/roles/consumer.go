package roles

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func consumerApp() *cli.App {
	return &cli.App{
		Name:  "consumer",
		Usage: "read a LogStream topic: records on standard output, with live analytics by default",
		UsageText: "consumer [-leader IP:PORT] [-topic T] [-group NAME] [-analytics=false] [-window S] [-interval MS] [-from beginning|latest|OFFSET|RFC3339]\n" +
			"   records go to standard output (one line each, or JSON with -format json); logs go to standard error\n" +
			"   with -group the group's position is stored in the cluster: a consumer started again with the same group\n" +
			"   continues after the last record the group acknowledged (a record is acknowledged once written to standard output);\n" +
			"   consumers started with the same group split the topic's records among them",
		Flags: append(clientFlags(),
			&cli.BoolFlag{Name: "analytics", Value: true, Usage: "receive live statistics computed on the broker (-analytics=false: raw records only)"},
			&cli.BoolFlag{Name: "no-analytics", Usage: "same as -analytics=false"},
			&cli.IntFlag{Name: "window", Value: 0, Usage: "analytics window in seconds (0 = broker default, ANALYTICS_WINDOW_SECONDS)"},
			&cli.IntFlag{Name: "interval", Value: 0, Usage: fmt.Sprintf("analytics update interval in ms (0 = broker default, %d ms)", defaults.AnalyticsInterval.Milliseconds())},
			&cli.StringFlag{Name: "from", Value: "beginning", Usage: "where to start: beginning (oldest retained record), latest (only new records), an offset, or an RFC3339 time"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text (one line per record) or json (one object per record and per statistics update)"},
			&cli.BoolFlag{Name: "exit-at-end", Usage: "read what is committed now, then exit 0 (for scripts)"},
			&cli.Uint64Flag{Name: "count", Usage: "exit 0 after this many records (0 = unlimited)"},
			&cli.StringFlag{Name: "group", EnvVars: []string{"CONSUMER_GROUP"}, Usage: "consumer group: resume at the group's stored position, store it as records are written (-from, if given, moves it); consumers of one group split the topic"},
		),
		Action: runConsumer,
	}
}

// consumerMain is the consumer role's entry point.
func consumerMain(args []string, stdout, stderr io.Writer) int {
	app := cliutil.Prepare(consumerApp(), stdout, stderr)
	app.Name = args[0]
	return cliutil.Run(app, args)
}

// parseFrom reads the -from flag.
func parseFrom(s string) (client.ConsumerOptions, error) {
	var co client.ConsumerOptions
	switch s {
	case "beginning", "earliest", "":
		co.From = wire.FromBeginning
	case "latest", "end", "new":
		co.From = wire.FromLatest
	default:
		if off, err := strconv.ParseUint(s, 10, 64); err == nil {
			co.From, co.Offset = wire.FromOffset, off
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			co.From, co.Time = wire.FromTime, t
		} else {
			return co, fmt.Errorf("want beginning, latest, an offset, or an RFC3339 time such as 2026-01-02T15:04:05Z")
		}
	}
	return co, nil
}

// consumerConfig is everything the consumer's command line decides.
type consumerConfig struct {
	client.Options
	client.ConsumerOptions
	Format    string
	ExitAtEnd bool
	Count     uint64
	Group     string // consumer group ("" none)
	FromSet   bool   // -from was given: with a group, it moves the group's position
}

func parseConsumer(c *cli.Context) (consumerConfig, error) {
	o, err := clientOptions(c, wire.RoleConsumer, "consumer")
	if err != nil {
		return consumerConfig{}, err
	}
	co, err := parseFrom(c.String("from"))
	if err != nil {
		return consumerConfig{}, cliutil.UsageError("-from", c.String("from"), err.Error())
	}
	co.Topic = c.String("topic")
	co.Analytics = c.Bool("analytics") && !c.Bool("no-analytics")
	w, iv := c.Int("window"), c.Int("interval")
	if w < 0 || w > defaults.MaxSeconds {
		return consumerConfig{}, cliutil.UsageError("-window", fmt.Sprint(w), fmt.Sprintf("want 0 (broker default) to %d seconds", defaults.MaxSeconds))
	}
	if maxMs := defaults.MaxAnalyticsInterval.Milliseconds(); iv < 0 || int64(iv) > maxMs {
		return consumerConfig{}, cliutil.UsageError("-interval", fmt.Sprint(iv), fmt.Sprintf("want 0 (default) to %d ms", maxMs))
	}
	co.WindowSec, co.IntervalMs = uint32(w), uint32(iv)
	cc := consumerConfig{Options: o, ConsumerOptions: co, Format: c.String("format"),
		ExitAtEnd: c.Bool("exit-at-end"), Count: c.Uint64("count"), Group: c.String("group"), FromSet: c.IsSet("from")}
	if cc.Group != "" || c.IsSet("group") {
		if err := wire.ValidGroupName(cc.Group); err != nil {
			return cc, cliutil.UsageError("-group (CONSUMER_GROUP)", cc.Group, fmt.Sprintf("want 1-%d characters of A-Z a-z 0-9 . _ -", wire.MaxGroupName))
		}
	}
	if cc.Format != "text" && cc.Format != "json" {
		return cc, cliutil.UsageError("-format", cc.Format, "want text or json")
	}
	return cc, nil
}

func runConsumer(c *cli.Context) error {
	cc, err := parseConsumer(c)
	if err != nil {
		return err
	}
	cliutil.SignalReady() // the command line is good: logstreamctl may report us started
	o, co := cc.Options, cc.ConsumerOptions
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := newPrinter(c.App.Writer, cc.Format, co.Topic)
	h := &consumerHandler{out: out, exitAtEnd: cc.ExitAtEnd, limit: cc.Count}
	var gc *client.GroupCommitter
	var groupErr error
	if cc.Group != "" {
		if !cc.FromSet {
			e, ok, err := client.LoadGroupPosition(ctx, o, cc.Group, co.Topic)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return cli.Exit("reading the position of group "+cc.Group+": "+err.Error(), 1)
			}
			if ok {
				co.From, co.Offset, co.Resume = wire.FromOffset, e.Next, true
				o.Logger.Info().Str("group", cc.Group).Str("topic", co.Topic).Uint64("offset", e.Next).Msg("group position found: resuming there")
			} else {
				o.Logger.Info().Str("group", cc.Group).Str("topic", co.Topic).Msg("group has no position in this topic yet: starting at -from")
			}
		}
		gctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ctx = gctx
		gc = client.NewGroupCommitter(o, cc.Group, co.Topic, func(err error) {
			groupErr = err
			cancel()
		})
		// The group is shared: the topic's owner splits the records among
		// its members and tells each the group's position (the end of what
		// all of them acknowledged), which is what gets stored.
		co.Group = cc.Group
		co.OnPosition = h.position(gc.Ack)
	}
	cons := client.NewConsumer(o, co)
	if cc.Group != "" {
		h.ack = cons.Ack
	}
	o.Logger.Info().Str("consumer", o.ClientID).Str("topic", co.Topic).Str("group", cc.Group).Bool("analytics", co.Analytics).Msg("consumer started")
	err = cons.Run(ctx, h)
	out.finish()
	if gc != nil {
		// Everything printed is acknowledged: stop-and-start delivers each
		// record once.
		if cerr := gc.Close(groupCloseTimeout); cerr != nil {
			o.Logger.Warn().Err(cerr).Str("group", cc.Group).Msg("the group's last position may not be stored: its last records may be delivered again")
		} else if next, ok := gc.Written(); ok {
			o.Logger.Info().Str("group", cc.Group).Str("topic", co.Topic).Uint64("offset", next).Msg("group position stored")
		}
		if err == nil && groupErr != nil {
			err = fmt.Errorf("storing the position of group %s: %w", cc.Group, groupErr)
		}
	}
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}

// groupCloseTimeout bounds how long a stopping grouped consumer waits for
// its last position to be stored.
const groupCloseTimeout = 3 * time.Second

// consumerHandler prints what arrives and decides when a bounded read ends.
type consumerHandler struct {
	out       *printer
	exitAtEnd bool
	end       uint64 // with exit-at-end: the committed end seen at the first subscription
	endKnown  bool
	limit     uint64
	seen      uint64
	// With a group: ack is given the records written to the output, once
	// they are flushed.
	ack func(recs []record.Record)
}

// position returns the group's OnPosition: it stores the position and,
// with -exit-at-end, ends the run once the group acknowledged everything
// committed at the start (another member may have printed the last
// records).
func (h *consumerHandler) position(store func(uint64)) func(uint64) error {
	return func(p uint64) error {
		store(p)
		if h.endKnown && p >= h.end {
			return client.ErrStop
		}
		return nil
	}
}

func (h *consumerHandler) Start(next, committed uint64) error {
	if h.exitAtEnd && !h.endKnown {
		h.end, h.endKnown = committed, true
	}
	if h.endKnown && next >= h.end {
		return client.ErrStop
	}
	return nil
}

// Records prints a batch and flushes it, so a human sees each record at
// once and a pipe still gets one write per batch; only then is it
// acknowledged.
func (h *consumerHandler) Records(recs []record.Record) error {
	n, stop := h.print(recs)
	if err := h.out.flush(); err != nil {
		return fmt.Errorf("writing records: %w", err)
	}
	if h.ack != nil && n > 0 {
		h.ack(recs[:n])
	}
	return stop
}

// print writes records until the batch ends or a bound is reached; it
// returns how many it wrote and ErrStop at a bound.
func (h *consumerHandler) print(recs []record.Record) (int, error) {
	for i := range recs {
		if h.endKnown && recs[i].Offset >= h.end {
			return i, client.ErrStop
		}
		h.out.record(&recs[i])
		h.seen++
		if h.limit > 0 && h.seen >= h.limit {
			return i + 1, client.ErrStop
		}
		if h.endKnown && recs[i].Offset+1 >= h.end {
			return i + 1, client.ErrStop
		}
	}
	return len(recs), nil
}

func (h *consumerHandler) Stats(s *wire.Stats) { h.out.stats(s) }
