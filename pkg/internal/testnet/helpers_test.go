package testnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testGroup is the multicast group the manual uses for replication.
var testGroup = netip.MustParseAddr("239.0.0.1")

// randomPort picks a high port; collisions are harmless because every
// listener lives in a namespace of its own test.
func randomPort() int { return 20000 + rand.IntN(40000) }

// listenUDP binds 0.0.0.0:port inside h and, when iface is not empty, joins
// testGroup on that interface. It must be called from inside h.Do.
func listenUDP(port int, iface string) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero, Port: port})
	if err != nil {
		return nil, err
	}
	if iface == "" {
		return c, nil
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := setsockopt(c, func(fd int) error {
		return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &unix.IPMreqn{
			Multiaddr: testGroup.As4(),
			Ifindex:   int32(ifi.Index),
		})
	}); err != nil {
		c.Close()
		return nil, fmt.Errorf("join %s on %s: %w", testGroup, iface, err)
	}
	return c, nil
}

func setsockopt(c *net.UDPConn, f func(fd int) error) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// collect reads datagrams from c into the returned channel until c closes.
// The channel is buffered and drops when full: a flood must not block.
func collect(c *net.UDPConn) <-chan []byte {
	ch := make(chan []byte, 64)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				close(ch)
				return
			}
			select {
			case ch <- bytes.Clone(buf[:n]):
			default:
			}
		}
	}()
	return ch
}

// waitFor waits until want holds for something read from ch, or fails the
// test after limit (a ceiling for a positive condition, not a sleep).
func waitFor(t *testing.T, ch <-chan []byte, limit time.Duration, what string, want func([]byte) bool) {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				t.Fatalf("%s: socket closed before it arrived", what)
			}
			if want(b) {
				return
			}
		case <-timer.C:
			t.Fatalf("%s: nothing within %v", what, limit)
		}
	}
}

// nsLink is the part of `ip -j -d link` the seal check reads.
type nsLink struct {
	Name    string `json:"ifname"`
	PeerNS  *int   `json:"link_netnsid"`
	Master  string `json:"master"`
	Kind    string `json:"link_type"`
	Details struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
}

// assertSealed checks the topology is closed: every namespace of n holds
// only lo, veths and (in the switch) the bridge, and every veth's peer sits
// in a namespace of n. A link to the machine's own namespace (or anything
// else) would show up as a peer outside that set.
func assertSealed(t *testing.T, n *Network) {
	t.Helper()
	ours := map[string]bool{}
	for _, ns := range n.Namespaces() {
		ours[ns] = true
	}
	for ns := range ours {
		out, err := ip("-n", ns, "-j", "-d", "link", "show")
		if err != nil {
			t.Fatal(err)
		}
		var links []nsLink
		if err := json.Unmarshal([]byte(out), &links); err != nil {
			t.Fatalf("parse links of %s: %v", ns, err)
		}
		idsOut, err := ip("-n", ns, "-j", "netns", "list-id")
		if err != nil {
			t.Fatal(err)
		}
		var ids []struct {
			NSID int    `json:"nsid"`
			Name string `json:"name"`
		}
		if strings.TrimSpace(idsOut) != "" {
			if err := json.Unmarshal([]byte(idsOut), &ids); err != nil {
				t.Fatalf("parse nsids of %s: %v", ns, err)
			}
		}
		peerName := map[int]string{}
		for _, id := range ids {
			peerName[id.NSID] = id.Name
		}
		for _, l := range links {
			switch {
			case l.Name == "lo":
			case l.Details.Kind == "bridge" && ns == n.SwitchName():
			case l.Details.Kind == "veth":
				if l.PeerNS == nil {
					t.Errorf("%s/%s: veth peer in the same namespace", ns, l.Name)
				} else if p := peerName[*l.PeerNS]; !ours[p] {
					t.Errorf("%s/%s: veth peer in namespace %q (nsid %d), outside the network", ns, l.Name, p, *l.PeerNS)
				}
			default:
				t.Errorf("%s/%s: unexpected link kind %q", ns, l.Name, l.Details.Kind)
			}
		}
		routes, err := ip("-n", ns, "-4", "route", "show", "table", "main")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(routes, "default") || strings.Contains(routes, " via ") {
			t.Errorf("%s: has a gateway route:\n%s", ns, routes)
		}
	}
}

// listNamespaces returns the names `ip netns list` prints.
func listNamespaces(t *testing.T) map[string]bool {
	t.Helper()
	out, err := ip("netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	return names
}

// deadPID returns a PID that just exited, for leftover-cleanup tests.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Skipf("pid %d was reused at once", p.Pid)
	}
	return p.Pid
}
