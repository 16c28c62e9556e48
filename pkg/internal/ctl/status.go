package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// statusOptions are the parsed options of `status`.
type statusOptions struct {
	JSON     bool
	Watch    bool
	Interval time.Duration
	Brokers  []string
	Timeout  time.Duration
	// BroadcastPort is where `status` looks for a cluster by broadcast
	// when no broker is managed here and none is given with --broker.
	BroadcastPort uint16
}

func statusCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show local processes and the live cluster (leader, view, members, topics, consumers)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "redraw every --interval until Ctrl-C"},
			&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "redraw interval for --watch (500ms-1h)"},
			&cli.StringSliceFlag{Name: "broker", Usage: "broker IP:PORT to ask (repeatable; default: the running managed brokers)"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "how long to wait for each broker"},
			&cli.UintFlag{Name: "broadcast-port", EnvVars: []string{"BROADCAST_PORT"}, Value: uint(defaults.DiscoveryPort),
				Usage: "UDP port to look for the cluster on by broadcast, when no broker is managed here or given with --broker"},
			keyFileFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			opts := statusOptions{JSON: c.Bool("json"), Watch: c.Bool("watch"), Interval: c.Duration("interval"),
				Brokers: c.StringSlice("broker"), Timeout: c.Duration("timeout"), BroadcastPort: uint16(c.Uint("broadcast-port"))}
			if c.Uint("broadcast-port") < 1 || c.Uint("broadcast-port") > 65535 {
				return usageErrorf("invalid value %d for --broadcast-port: want 1-65535", c.Uint("broadcast-port"))
			}
			if opts.Interval < 500*time.Millisecond || opts.Interval > time.Hour {
				return usageErrorf("invalid value %s for --interval: want 500ms to 1h", opts.Interval)
			}
			if opts.Timeout <= 0 || opts.Timeout > time.Minute {
				return usageErrorf("invalid value %s for --timeout: want up to 1m", opts.Timeout)
			}
			for _, b := range opts.Brokers {
				if err := hostPort("broker")(b); err != nil {
					return err
				}
			}
			if h, err := e.intercepted(opts); h {
				return err
			}
			q, err := e.keyedQuerier(c)
			if err != nil {
				return err
			}
			e.querier = q
			if e.discover != nil {
				key, _ := e.clusterKey(c) // checked by keyedQuerier
				find := e.discover
				e.discover = func(ctx context.Context, port uint16, _ *wire.Key) (string, error) { return find(ctx, port, key) }
			}
			return runStatus(c.Context, e, opts)
		},
	}
}

func runStatus(ctx context.Context, e *env, opts statusOptions) error {
	if !opts.Watch {
		rep, err := buildStatus(ctx, e, opts)
		if err != nil {
			return err
		}
		if err := renderStatus(e.stdout, rep, opts.JSON); err != nil {
			return err
		}
		return keyRefusal(rep)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	term := isTerminal(e.stdout)
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		rep, err := buildStatus(ctx, e, opts)
		if err != nil {
			return err
		}
		if term {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J") // home + clear screen
		}
		if err := renderStatus(e.stdout, rep, opts.JSON); err != nil {
			return err
		}
		if !term && !opts.JSON {
			fmt.Fprintln(e.stdout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// keyRefusal is the error of a status in which no broker answered and one
// refused our cluster key: that is worth a non-zero exit and its own line.
func keyRefusal(rep statusreport.Report) error {
	var refused error
	for _, b := range rep.Brokers {
		if b.Reachable {
			return nil
		}
		if errors.Is(b.Err, wire.ErrAuth) {
			refused = b.Err
		}
	}
	return refused
}

// buildStatus collects the local processes and asks every broker at once.
func buildStatus(ctx context.Context, e *env, opts statusOptions) (statusreport.Report, error) {
	procs, err := localStatus(e)
	if err != nil {
		return statusreport.Report{}, err
	}
	rep := statusreport.Report{Time: e.now(), Processes: procs}
	names := map[string]string{}
	addrs := opts.Brokers
	for _, p := range procs {
		if p.Type == "broker" {
			names[p.Address] = p.Name
			if len(opts.Brokers) == 0 && p.Status == "running" {
				addrs = append(addrs, p.Address)
			}
		}
	}
	if len(addrs) == 0 && e.discover != nil {
		addrs, rep.FoundBy = e.findCluster(ctx, opts)
	}
	rep.Brokers = e.askBrokers(ctx, opts, addrs, names)
	if len(opts.Brokers) == 0 {
		// Ask the members of the view not asked yet too (brokers started
		// elsewhere, or the rest of a cluster found by broadcast): their
		// answers give their names. Brokers given with --broker are all
		// that is asked.
		rep.Brokers = append(rep.Brokers, e.askBrokers(ctx, opts, unasked(rep.Brokers), names)...)
	}
	for i := range rep.Brokers {
		if b := &rep.Brokers[i]; b.Reachable && b.Meta.Name != "" {
			names[b.Addr] = b.Meta.Name
			b.Name = b.Meta.Name
		}
	}
	// The cluster as the leader sees it; failing that, the newest view.
	var best *statusreport.Broker
	for i := range rep.Brokers {
		b := &rep.Brokers[i]
		if !b.Reachable {
			continue
		}
		switch {
		case best == nil:
			best = b
		case b.NodeID != "" && b.NodeID == b.LeaderID && best.NodeID != best.LeaderID:
			best = b
		case b.View > best.View && best.NodeID != best.LeaderID:
			best = b
		}
	}
	if best != nil {
		rep.Cluster, rep.ClusterFrom = statusreport.Named(best.Meta, names), best.Addr
	}
	e.readGroups(ctx, opts, &rep)
	return rep, nil
}

// findCluster looks for the cluster by broadcast, as clients do, and
// returns the leader's address to ask, and how it was found (or why not).
func (e *env) findCluster(ctx context.Context, opts statusOptions) ([]string, string) {
	leader, err := e.discover(ctx, opts.BroadcastPort, nil)
	if err != nil {
		return nil, "not found by broadcast: " + err.Error()
	}
	return []string{leader}, "broadcast"
}

// askBrokers asks every address for its metadata at once.
func (e *env) askBrokers(ctx context.Context, opts statusOptions, addrs []string, names map[string]string) []statusreport.Broker {
	out := make([]statusreport.Broker, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func(i int, a string) {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			bs := statusreport.Broker{Name: names[a], Addr: a}
			meta, err := e.querier.Metadata(qctx, a)
			if err != nil {
				bs.Error, bs.Err = err.Error(), err
			} else {
				bs.Reachable, bs.Meta = true, meta
				bs.NodeID, bs.LeaderID, bs.View = meta.NodeID, meta.LeaderID, meta.View
			}
			out[i] = bs
		}(i, a)
	}
	wg.Wait()
	return out
}

// unasked lists the members the answers name that were not asked.
func unasked(asked []statusreport.Broker) []string {
	seen := map[string]bool{}
	for _, b := range asked {
		seen[b.Addr] = true
	}
	var more []string
	for _, b := range asked {
		if !b.Reachable {
			continue
		}
		for _, m := range b.Meta.Members {
			if m.Addr != "" && !seen[m.Addr] {
				seen[m.Addr] = true
				more = append(more, m.Addr)
			}
		}
	}
	return more
}

// named shows a broker as "name (id)" when it has a name here, else its id.
func named(name, id string) string {
	if name == "" {
		return dash(id)
	}
	return name + " (" + dash(id) + ")"
}

func renderStatus(w io.Writer, rep statusreport.Report, asJSON bool) error {
	if asJSON {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "LOCAL PROCESSES (%s)\n", rep.Time.Format(time.RFC3339))
	if len(rep.Processes) == 0 {
		fmt.Fprintln(w, "  none")
	} else if err := writeProcessTable(w, rep.Processes); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "BROKERS")
	if len(rep.Brokers) == 0 {
		fmt.Fprintf(w, "  no running brokers known here and none %s; ask one with --broker IP:PORT\n", strings.TrimPrefix(rep.FoundBy, "not "))
		return nil
	}
	if rep.FoundBy == "broadcast" {
		fmt.Fprintln(w, "  (no broker managed here: the cluster was found by broadcast)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tNAME\tREACHABLE\tNODE\tLEADER\tVIEW")
	for _, b := range rep.Brokers {
		if !b.Reachable {
			fmt.Fprintf(tw, "%s\t%s\tno (%s)\t-\t-\t-\n", b.Addr, dash(b.Name), b.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\tyes\t%s\t%s\t%d\n", b.Addr, dash(b.Name), dash(b.NodeID), dash(b.LeaderID), b.View)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Cluster != nil {
		if err := renderCluster(w, rep.Cluster, rep.ClusterFrom); err != nil {
			return err
		}
		fmt.Fprintln(w, "\nCONSUMER GROUPS")
		if rep.GroupsError != "" {
			fmt.Fprintf(w, "  not read: %s\n", rep.GroupsError)
			return nil
		}
		return renderGroups(w, rep.Groups, rep.Time)
	}
	return nil
}

func renderCluster(w io.Writer, m *statusreport.Cluster, from string) error {
	fmt.Fprintf(w, "\nCLUSTER (as reported by %s)\n", from)
	fmt.Fprintf(w, "  Leader: %s at %s   View: %d   Cluster: %s\n", named(m.LeaderName, m.LeaderID), dash(m.LeaderAddr), m.View, dash(m.ClusterID))
	fmt.Fprintln(w, "\nMEMBERS")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tADDRESS\tSTATE")
	for _, b := range m.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", dash(b.Name), b.ID, b.Addr, dash(b.State))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nTOPICS")
	if len(m.Topics) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		fmt.Fprintln(tw, "NAME\tOWNER\tSTART\tNEXT\tCOMMITTED")
		for _, t := range m.Topics {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", t.Name, named(t.OwnerName, t.Owner), t.StartOffset, t.NextOffset, t.Committed)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nCONSUMERS")
	if len(m.Consumers) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		fmt.Fprintln(tw, "ID\tTOPIC\tOFFSET\tLAG")
		for _, c := range m.Consumers {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", c.ID, c.Topic, c.Offset, c.Lag)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(m.Damage) > 0 {
		fmt.Fprintln(w, "\nDAMAGED LOG RANGES (on the reporting broker)")
		fmt.Fprintln(tw, "TOPIC\tFILE\tKIND\tOFFSETS\tBYTES\tACTION")
		for _, d := range m.Damage {
			fmt.Fprintf(tw, "%s\t%s\t%s\t[%d, %d)\t%d-%d\t%s\n", d.Topic, d.File, d.Kind, d.From, d.To, d.Pos, d.End, d.Action)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(m.Detections) > 0 {
		fmt.Fprintln(w, "\nFAILURE DETECTIONS (by the reporting broker, latest last)")
		fmt.Fprintln(tw, "AT\tPEER\tPART\tVERDICT\tSILENT FOR")
		for _, x := range m.Detections {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fs\n", x.At, x.PeerAddr, x.Role, x.Verdict, x.SilentS)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(m.Counters) > 0 {
		fmt.Fprintln(w, "\nCOUNTERS")
		keys := make([]string, 0, len(m.Counters))
		for k := range m.Counters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%d\n", k, m.Counters[k])
		}
		return tw.Flush()
	}
	return nil
}

// isTerminal reports whether w is a terminal (for --watch redraws).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
