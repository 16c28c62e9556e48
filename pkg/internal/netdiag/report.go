package netdiag

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/netaddr"
)

// report is what netdiag prints; its JSON form is the --json output.
type report struct {
	Interfaces       []ifaceReport `json:"interfaces"`
	Choice           *choiceReport `json:"choice,omitempty"`
	ChoiceError      string        `json:"choice_error,omitempty"`
	DiscoveryTargets []string      `json:"discovery_targets"`
	MulticastGroup   string        `json:"multicast_group"`
	SelfTest         []check       `json:"self_test,omitempty"`
}

// ifaceReport is one interface.
type ifaceReport struct {
	Name           string   `json:"name"`
	Index          int      `json:"index"`
	Up             bool     `json:"up"`
	Loopback       bool     `json:"loopback"`
	Broadcast      bool     `json:"broadcast"`
	Multicast      bool     `json:"multicast"`
	MTU            int      `json:"mtu"`
	Addrs          []string `json:"addrs"`
	BroadcastAddrs []string `json:"broadcast_addrs"`
}

// choiceReport is netaddr.Pick's answer.
type choiceReport struct {
	Interface string `json:"interface"`
	IP        string `json:"ip"`
	Broadcast string `json:"broadcast,omitempty"`
	Reason    string `json:"reason"`
}

// buildReport is pure: the same interfaces always give the same report.
func buildReport(ifs []netaddr.Iface, broadcastPort uint16, group netip.AddrPort) report {
	r := report{Interfaces: []ifaceReport{}, DiscoveryTargets: []string{}, MulticastGroup: group.String()}
	for _, it := range ifs {
		ir := ifaceReport{Name: it.Name, Index: it.Index, Up: it.Up, Loopback: it.Loopback, Broadcast: it.Broadcast,
			Multicast: it.Multicast, MTU: it.MTU, Addrs: []string{}, BroadcastAddrs: []string{}}
		for _, p := range it.Addrs {
			ir.Addrs = append(ir.Addrs, p.String())
		}
		for _, b := range it.BroadcastAddrs {
			ir.BroadcastAddrs = append(ir.BroadcastAddrs, b.String())
		}
		r.Interfaces = append(r.Interfaces, ir)
	}
	if c, err := netaddr.Pick(ifs); err != nil {
		r.ChoiceError = err.Error()
	} else {
		cr := &choiceReport{Interface: c.Iface.Name, IP: c.IP.String(), Reason: c.Reason}
		if c.Broadcast.IsValid() {
			cr.Broadcast = c.Broadcast.String()
		}
		r.Choice = cr
	}
	for _, t := range discovery.DefaultTargets(ifs, broadcastPort) {
		r.DiscoveryTargets = append(r.DiscoveryTargets, t.String())
	}
	return r
}

func flagWords(ir ifaceReport) string {
	var w []string
	if ir.Loopback {
		w = append(w, "loopback")
	}
	if ir.Broadcast {
		w = append(w, "broadcast")
	}
	if ir.Multicast {
		w = append(w, "multicast")
	}
	if len(w) == 0 {
		return "-"
	}
	return strings.Join(w, ",")
}

func orDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

// writeText prints the report for people.
func writeText(w io.Writer, r report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INTERFACE\tSTATE\tFLAGS\tMTU\tADDRESSES\tBROADCAST")
	for _, ir := range r.Interfaces {
		state := "down"
		if ir.Up {
			state = "up"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", ir.Name, state, flagWords(ir), ir.MTU, orDash(ir.Addrs), orDash(ir.BroadcastAddrs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if c := r.Choice; c != nil {
		bc := c.Broadcast
		if bc == "" {
			bc = "none"
		}
		fmt.Fprintf(w, "LogStream would advertise %s on %s (broadcast %s)\n  why: %s\n", c.IP, c.Interface, bc, c.Reason)
		fmt.Fprintf(w, "Heartbeats and replication use multicast group %s via %s\n", r.MulticastGroup, c.IP)
	} else {
		fmt.Fprintf(w, "LogStream found no address to advertise: %s\n", r.ChoiceError)
	}
	if len(r.DiscoveryTargets) > 0 {
		fmt.Fprintf(w, "Discovery sends JOIN to %s\n", strings.Join(r.DiscoveryTargets, ", "))
	} else {
		fmt.Fprintln(w, "Discovery has nowhere to broadcast JOIN: use --leader IP:PORT")
	}
	if len(r.SelfTest) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Self-test:")
		for _, c := range r.SelfTest {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", mark, c.Name, c.Detail)
		}
	}
	return nil
}
