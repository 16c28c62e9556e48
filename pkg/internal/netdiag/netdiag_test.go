package netdiag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/netaddr"
	"github.com/logstream/logstream/pkg/udpnet/udpnettest"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// A made-up host: the listing tests never look at the real machine.
var fakeHost = []netaddr.Iface{
	{Name: "lo", Index: 1, Up: true, Loopback: true, MTU: 65536, Addrs: pfx("127.0.0.1/8", "::1/128"),
		BroadcastAddrs: []netip.Addr{netaddr.LoopbackBroadcast}},
	{Name: "eth0", Index: 2, Up: true, Broadcast: true, Multicast: true, MTU: 1500, Addrs: pfx("10.77.0.10/24", "fd00::2/64"),
		BroadcastAddrs: []netip.Addr{netip.MustParseAddr("10.77.0.255")}},
	{Name: "eth1", Index: 3, Broadcast: true, Multicast: true, MTU: 1500},
}

func fake(ifs []netaddr.Iface, err error) func() ([]netaddr.Iface, error) {
	return func() ([]netaddr.Iface, error) { return ifs, err }
}

func runFake(t *testing.T, ifs []netaddr.Iface, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"netdiag"}, args...), &out, &errb, fake(ifs, nil))
	return code, out.String(), errb.String()
}

func TestListText(t *testing.T) {
	code, out, stderr := runFake(t, fakeHost)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"INTERFACE", "eth0", "up", "broadcast,multicast", "10.77.0.10/24 fd00::2/64", "10.77.0.255",
		"eth1       down",
		"LogStream would advertise 10.77.0.10 on eth0 (broadcast 10.77.0.255)",
		"why: eth0 is the first up",
		"multicast group 239.0.0.1:9999 via 10.77.0.10",
		"Discovery sends JOIN to 10.77.0.255:8888",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Self-test") {
		t.Error("self-test ran without --self-test")
	}
}

func TestListJSON(t *testing.T) {
	code, out, _ := runFake(t, fakeHost, "--json", "-b", "8889", "--multicast", "239.0.0.5:9999")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Interfaces) != 3 || rep.Interfaces[1].Name != "eth0" || !rep.Interfaces[1].Multicast ||
		rep.Interfaces[1].BroadcastAddrs[0] != "10.77.0.255" || rep.Interfaces[2].Up {
		t.Errorf("interfaces %+v", rep.Interfaces)
	}
	if rep.Choice == nil || rep.Choice.IP != "10.77.0.10" || rep.Choice.Broadcast != "10.77.0.255" || rep.Choice.Reason == "" {
		t.Errorf("choice %+v", rep.Choice)
	}
	if len(rep.DiscoveryTargets) != 1 || rep.DiscoveryTargets[0] != "10.77.0.255:8889" || rep.MulticastGroup != "239.0.0.5:9999" {
		t.Errorf("targets %v group %s", rep.DiscoveryTargets, rep.MulticastGroup)
	}
	if rep.SelfTest != nil {
		t.Error("self-test ran without --self-test")
	}
}

func TestLoopbackOnlyHost(t *testing.T) {
	code, out, _ := runFake(t, fakeHost[:1])
	if code != 0 || !strings.Contains(out, "advertise 127.0.0.1 on lo") || !strings.Contains(out, "JOIN to 127.255.255.255:8888") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestNoAddress(t *testing.T) {
	code, out, stderr := runFake(t, nil)
	if code != 1 || !strings.Contains(out, "no address to advertise") || !strings.Contains(out, "--leader") ||
		!strings.HasPrefix(stderr, "netdiag: no usable address") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	var errb bytes.Buffer
	if code := run([]string{"netdiag"}, &bytes.Buffer{}, &errb, fake(nil, errors.New("netlink says no"))); code != 1 ||
		!strings.Contains(errb.String(), "netlink says no") {
		t.Errorf("interface error: exit %d, %q", code, errb.String())
	}
}

// Usage errors are refused before anything is opened or sent.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--on-network"},
		{"--multicast", "10.0.0.1:9999"},
		{"--multicast", "239.0.0.1"},
		{"--broadcast-port", "70000"},
		{"--broadcast-port", "0"},
		{"--timeout", "0s", "--self-test"},
		{"extra"},
		{"--no-such-flag"},
	} {
		code, out, stderr := runFake(t, fakeHost, args...)
		if code != 2 || out != "" || !strings.HasPrefix(stderr, "netdiag: ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
}

func TestHelpDocumentsOnNetwork(t *testing.T) {
	code, out, _ := runFake(t, fakeHost, "--help")
	if code != 0 || !strings.Contains(out, "LOOPBACK ONLY") || !strings.Contains(out, "--on-network") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// netdiag's --broadcast-port and --multicast default to what the broker's
// do (pkg/defaults), and --help says so.
func TestHelpShowsTheBrokerDefaults(t *testing.T) {
	code, out, _ := runFake(t, fakeHost, "--help")
	for _, want := range []string{
		fmt.Sprintf("(default: %d)", defaults.DiscoveryPort),
		fmt.Sprintf("(default: %q)", defaults.MulticastGroup),
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, --help does not say %s:\n%s", code, want, out)
		}
	}
}

// The self-test sends datagrams, so it only ever runs inside a private
// namespace whose only interface is lo.

func TestSelfTestInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	var out, errb bytes.Buffer
	code := Run([]string{"netdiag", "--self-test", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.SelfTest) != 2 {
		t.Fatalf("checks %+v", rep.SelfTest)
	}
	for _, c := range rep.SelfTest {
		if !c.OK || !strings.Contains(c.Name, "loopback") {
			t.Errorf("check %+v", c)
		}
	}
	if !strings.Contains(rep.SelfTest[0].Detail, "127.255.255.255") || !strings.Contains(rep.SelfTest[1].Detail, "239.0.0.1") {
		t.Errorf("details %+v", rep.SelfTest)
	}
}

// TestOnNetworkInNetns: in the namespace the "network" interface is lo, so
// --on-network exercises its code path without a LAN.
func TestOnNetworkInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	var out, errb bytes.Buffer
	code := Run([]string{"netdiag", "--self-test", "--on-network"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"ok    broadcast on loopback", "ok    multicast on loopback", "ok    broadcast on lo:", "127.255.255.255:8888", "239.0.0.1:9999"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFailingChecksInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	ctx := context.Background()
	notHere := netip.MustParseAddr("10.9.9.9") // no interface has it
	c := multicastCheck(ctx, "multicast on nowhere", notHere, netip.MustParseAddrPort("239.0.0.1:0"), time.Second)
	if c.OK || !strings.Contains(c.Detail, "cannot join") {
		t.Errorf("check %+v", c)
	}
	c = broadcastCheck(ctx, "broadcast from nowhere", notHere, netaddr.LoopbackBroadcast, 0, time.Second)
	if c.OK || !strings.Contains(c.Detail, "cannot open sender") {
		t.Errorf("check %+v", c)
	}
	var out bytes.Buffer
	if err := writeText(&out, report{SelfTest: []check{c}}); err != nil || !strings.Contains(out.String(), "FAIL  broadcast from nowhere") {
		t.Errorf("text %q, %v", out.String(), err)
	}
	if err := verdict(report{Choice: &choiceReport{}, SelfTest: []check{c}}); err == nil {
		t.Error("failed check gave exit 0")
	}
}
