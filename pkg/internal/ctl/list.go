package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/statusreport"
)

// listOptions are the parsed options of `list`.
type listOptions struct {
	JSON  bool
	Names bool // names only, one a line (for shell completion)
}

func listCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list managed processes with their status",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "names", Hidden: true, Usage: "print names only"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			opts := listOptions{JSON: c.Bool("json"), Names: c.Bool("names")}
			if h, err := e.intercepted(opts); h {
				return err
			}
			rows, err := localStatus(e)
			if err != nil {
				return err
			}
			switch {
			case opts.Names:
				for _, r := range rows {
					fmt.Fprintln(e.stdout, r.Name)
				}
				return nil
			case opts.JSON:
				return writeJSON(e.stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stdout, "no managed processes (start one with: logstreamctl start broker --name node1)")
				return nil
			}
			return writeProcessTable(e.stdout, rows)
		},
	}
}

// localStatus reads processes.json and checks which processes still run.
func localStatus(e *env) ([]statusreport.Process, error) {
	st, _, err := e.store()
	if err != nil {
		return nil, err
	}
	m, err := st.Load()
	if err != nil {
		return nil, err
	}
	now := e.now()
	rows := make([]statusreport.Process, 0, len(m))
	for _, en := range sortedEntries(m) {
		r := statusreport.Process{
			Name: en.Name, Type: en.Type, Status: "stopped", PID: en.PID,
			Address: en.Address, Topic: en.Topic, StartedAt: en.StartedAt,
			Background: en.Background, LogFile: en.LogFile,
		}
		if isOurs(en.PID, en.StartTicks) {
			r.Status = "running"
			r.UptimeSec = int64(now.Sub(en.StartedAt) / time.Second)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func writeProcessTable(w io.Writer, rows []statusreport.Process) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tPID\tADDRESS/LEADER\tTOPIC\tUPTIME")
	for _, r := range rows {
		pid, up := strconv.Itoa(r.PID), "-"
		if r.Status == "running" {
			up = (time.Duration(r.UptimeSec) * time.Second).String()
		} else {
			pid = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Status, pid, dash(r.Address), dash(r.Topic), up)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
