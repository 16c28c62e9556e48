package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/groups"
	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// GroupReader reads and deletes consumer groups (wireQuerier does; the
// groups' positions are records of the cluster's offsets topic).
type groupReader interface {
	Groups(ctx context.Context, addr string) ([]groups.Position, error)
	DeleteGroup(ctx context.Context, addr, group string) error
}

func (q wireQuerier) groupClient(addr string) client.Options {
	return client.Options{ClientID: client.NewClientID("logstreamctl"), Leader: addr, Key: q.Key, MaxFrame: q.MaxFrame,
		ReconnectAttempts: 3, ReconnectDelay: 300 * time.Millisecond, HBInterval: time.Second, HBTimeout: 5 * time.Second,
		Logger: zerolog.Nop()}
}

// Groups reads the offsets topic through the broker at addr (following it
// to the topic's owner) up to its committed end.
func (q wireQuerier) Groups(ctx context.Context, addr string) ([]groups.Position, error) {
	t, err := client.LoadGroupPositions(ctx, q.groupClient(addr))
	if err != nil {
		return nil, err
	}
	return t.Positions(time.Now(), groups.DefaultExpiry), nil
}

// DeleteGroup writes the group's deletion to the offsets topic and waits
// for the cluster to acknowledge it.
func (q wireQuerier) DeleteGroup(ctx context.Context, addr, group string) error {
	o := q.groupClient(addr)
	o.Role = wire.RoleProducer
	p := client.NewProducer(o, client.ProducerOptions{Topic: cluster.OffsetsTopic})
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	del := wire.GroupPosition{Kind: wire.GroupDelete, Group: group, At: time.Now().UnixNano()}
	if err := p.Send(ctx, del.Marshal()); err != nil {
		return err
	}
	err := p.Flush(ctx)
	cancel()
	<-done
	return err
}

// groupStatuses joins the positions with the topics' committed ends.
func groupStatuses(ps []groups.Position, topics []statusreport.Topic) []statusreport.Group {
	out := make([]statusreport.Group, 0, len(ps))
	for _, p := range ps {
		g := statusreport.Group{Group: p.Group, Topic: p.Topic, Position: p.Next, LastMember: p.Member,
			AckedAt: time.Unix(0, p.At).UTC(), ExpiresAt: time.Unix(0, p.At).Add(groups.DefaultExpiry).UTC()}
		if i := slices.IndexFunc(topics, func(t statusreport.Topic) bool { return t.Name == p.Topic }); i >= 0 && topics[i].Committed > p.Next {
			g.Lag = topics[i].Committed - p.Next
		}
		out = append(out, g)
	}
	return out
}

// withLive adds the live members the brokers reported to the stored
// positions: a live group's position is its owner's, and a group live but
// with nothing stored yet is listed too.
func withLive(gs []statusreport.Group, brokers []statusreport.Broker, topics []statusreport.Topic) []statusreport.Group {
	for _, b := range brokers {
		if !b.Reachable || b.Meta == nil {
			continue
		}
		for _, lg := range b.Meta.LiveGroups {
			i := slices.IndexFunc(gs, func(g statusreport.Group) bool { return g.Group == lg.Group && g.Topic == lg.Topic })
			if i < 0 {
				gs = append(gs, statusreport.Group{Group: lg.Group, Topic: lg.Topic})
				i = len(gs) - 1
			}
			g := &gs[i]
			g.Position = lg.Position
			g.Lag = 0
			if j := slices.IndexFunc(topics, func(t statusreport.Topic) bool { return t.Name == lg.Topic }); j >= 0 && topics[j].Committed > lg.Position {
				g.Lag = topics[j].Committed - lg.Position
			}
			for _, m := range lg.Members {
				g.Members = append(g.Members, statusreport.GroupMember{ID: m.ConsumerID, Addr: m.Addr, Leased: m.Leased, Acked: m.Acked})
			}
		}
	}
	for i := range gs {
		if gs[i].Members == nil {
			gs[i].Members = []statusreport.GroupMember{}
		}
	}
	slices.SortFunc(gs, func(a, b statusreport.Group) int {
		return strings.Compare(a.Group+"\x00"+a.Topic, b.Group+"\x00"+b.Topic)
	})
	return gs
}

// readGroups fills the report's groups from the cluster it found: the
// positions stored in the offsets topic (if it exists: some group
// acknowledged something) and the live members the brokers reported.
func (e *env) readGroups(ctx context.Context, opts statusOptions, rep *statusreport.Report) {
	if rep.Cluster == nil {
		return
	}
	var gs []statusreport.Group
	gr, ok := e.querier.(groupReader)
	if ok && slices.ContainsFunc(rep.Cluster.Topics, func(t statusreport.Topic) bool { return t.Name == cluster.OffsetsTopic }) {
		qctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		ps, err := gr.Groups(qctx, rep.ClusterFrom)
		if err != nil {
			rep.GroupsError = err.Error()
		} else {
			gs = groupStatuses(ps, rep.Cluster.Topics)
		}
	}
	rep.Groups = withLive(gs, append(slices.Clone(rep.Brokers), e.askOwners(ctx, opts, rep)...), rep.Cluster.Topics)
}

// askOwners asks the owners of the cluster's topics that were not asked
// (with --broker only the brokers named are): a shared group's live
// members are known to its topic's owner alone.
func (e *env) askOwners(ctx context.Context, opts statusOptions, rep *statusreport.Report) []statusreport.Broker {
	asked := map[string]bool{}
	for _, b := range rep.Brokers {
		asked[b.Addr] = true
	}
	var more []string
	for _, t := range rep.Cluster.Topics {
		if t.OwnerAddr != "" && !asked[t.OwnerAddr] && t.Name != cluster.OffsetsTopic {
			asked[t.OwnerAddr] = true
			more = append(more, t.OwnerAddr)
		}
	}
	if len(more) == 0 {
		return nil
	}
	return e.askBrokers(ctx, opts, more, nil)
}

// memberList is the MEMBERS column: how many, and who.
func memberList(ms []statusreport.GroupMember) string {
	if len(ms) == 0 {
		return "-"
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID + "@" + m.Addr
	}
	return fmt.Sprintf("%d: %s", len(ms), strings.Join(ids, ", "))
}

func renderGroups(w io.Writer, gs []statusreport.Group, now time.Time) error {
	if len(gs) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPOSITION\tLAG\tLAST MEMBER\tACKNOWLEDGED\tMEMBERS")
	for _, g := range gs {
		acked := "-"
		if !g.AckedAt.IsZero() {
			acked = now.Sub(g.AckedAt).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", g.Group, g.Topic, g.Position, g.Lag, dash(g.LastMember),
			acked, memberList(g.Members))
	}
	return tw.Flush()
}

func groupsCommand(e *env) *cli.Command {
	flags := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringSliceFlag{Name: "broker", Usage: "broker IP:PORT to ask (default: the running managed brokers, else found by broadcast)"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long to wait for the cluster"},
			&cli.UintFlag{Name: "broadcast-port", EnvVars: []string{"BROADCAST_PORT"}, Value: uint(defaults.DiscoveryPort),
				Usage: "UDP port to look for the cluster on by broadcast"},
			keyFileFlag(),
		}
	}
	parse := func(c *cli.Context) (statusOptions, error) {
		opts := statusOptions{Brokers: c.StringSlice("broker"), Timeout: c.Duration("timeout"), BroadcastPort: uint16(c.Uint("broadcast-port"))}
		if c.Uint("broadcast-port") < 1 || c.Uint("broadcast-port") > 65535 {
			return opts, usageErrorf("invalid value %d for --broadcast-port: want 1-65535", c.Uint("broadcast-port"))
		}
		if opts.Timeout <= 0 || opts.Timeout > time.Minute {
			return opts, usageErrorf("invalid value %s for --timeout: want up to 1m", opts.Timeout)
		}
		for _, b := range opts.Brokers {
			if err := hostPort("broker")(b); err != nil {
				return opts, err
			}
		}
		q, err := e.keyedQuerier(c)
		if err != nil {
			return opts, err
		}
		e.querier = q
		return opts, nil
	}
	// cluster finds a broker of the cluster to go through.
	cluster := func(ctx context.Context, opts statusOptions) (statusreport.Report, error) {
		rep, err := buildStatus(ctx, e, opts)
		if err != nil {
			return rep, err
		}
		if rep.Cluster == nil {
			if err := keyRefusal(rep); err != nil {
				return rep, err
			}
			return rep, errors.New("no broker of the cluster answered (start one, or name one with --broker IP:PORT)")
		}
		return rep, nil
	}
	return &cli.Command{
		Name:      "groups",
		Usage:     "list consumer groups (position and lag per topic), or delete one",
		UsageText: "logstreamctl groups [--json] [--broker IP:PORT]\n   logstreamctl groups delete NAME [--broker IP:PORT]",
		Description: "A consumer group's position in each topic is stored in the cluster (consumer -group NAME). A group\n" +
			"that acknowledges nothing for 7 days expires. Deleting a group forgets every position it has: its next\n" +
			"consumer starts where -from says (default: the oldest retained record).",
		Flags: append(flags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			opts, err := parse(c)
			if err != nil {
				return err
			}
			rep, err := cluster(c.Context, opts)
			if err != nil {
				return cli.Exit("groups: "+err.Error(), 1)
			}
			if rep.GroupsError != "" {
				return cli.Exit("groups: reading the positions: "+rep.GroupsError, 1)
			}
			if c.Bool("json") {
				return writeJSON(e.stdout, struct {
					Groups []statusreport.Group `json:"groups"`
				}{append([]statusreport.Group{}, rep.Groups...)})
			}
			return renderGroups(e.stdout, rep.Groups, e.now())
		},
		Subcommands: []*cli.Command{{
			Name:      "delete",
			Usage:     "delete a consumer group: forget its positions in every topic",
			UsageText: "logstreamctl groups delete NAME [--broker IP:PORT]",
			Flags:     flags(),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageErrorf("groups delete: want one group name")
				}
				name := c.Args().First()
				if err := wire.ValidGroupName(name); err != nil {
					return usageErrorf("groups delete: %v", err)
				}
				opts, err := parse(c)
				if err != nil {
					return err
				}
				rep, err := cluster(c.Context, opts)
				if err != nil {
					return cli.Exit("groups delete: "+err.Error(), 1)
				}
				// A name that is not a group is a mistake to say, as
				// Kafka's tools do, not a deletion to report done.
				if rep.GroupsError == "" && !hasGroup(rep.Groups, name) {
					return cli.Exit(fmt.Sprintf("groups delete: no consumer group named %q (logstreamctl groups lists them)", name), 1)
				}
				gr, ok := e.querier.(groupReader)
				if !ok {
					return cli.Exit("groups delete: this querier cannot write to the cluster", 1)
				}
				ctx, cancel := context.WithTimeout(c.Context, opts.Timeout)
				defer cancel()
				if err := gr.DeleteGroup(ctx, rep.ClusterFrom, name); err != nil {
					return cli.Exit("groups delete: "+err.Error(), 1)
				}
				fmt.Fprintf(e.stdout, "group %s deleted\n", name)
				return nil
			},
		}},
	}
}

// hasGroup reports whether gs has a position or live members of group.
func hasGroup(gs []statusreport.Group, group string) bool {
	for _, g := range gs {
		if g.Group == group {
			return true
		}
	}
	return false
}
