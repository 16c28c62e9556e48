package testnet

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestBroadcastOf(t *testing.T) {
	for in, want := range map[string]string{
		"10.77.3.0/24":   "10.77.3.255",
		"10.77.3.17/24":  "10.77.3.255",
		"127.0.0.1/8":    "127.255.255.255",
		"172.20.0.0/16":  "172.20.255.255",
		"192.168.1.0/30": "192.168.1.3",
		"10.0.0.0/20":    "10.0.15.255",
		"10.0.0.1/32":    "10.0.0.1",
	} {
		if got := broadcastOf(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("broadcastOf(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestHostAddr(t *testing.T) {
	p := netip.MustParsePrefix("10.77.9.0/24")
	for i, want := range map[int]string{0: "10.77.9.10", 1: "10.77.9.11", 244: "10.77.9.254"} {
		got, err := hostAddr(p, i)
		if err != nil || got.String() != want {
			t.Errorf("hostAddr(%d) = %s, %v; want %s", i, got, err, want)
		}
	}
	if _, err := hostAddr(p, 245); err == nil {
		t.Error("hostAddr(245) would be the broadcast address: want error")
	}
	if _, err := hostAddr(netip.MustParsePrefix("10.0.0.0/29"), 0); err == nil {
		t.Error("a /29 has no .10: want error")
	}
}

func TestParseSubnet(t *testing.T) {
	if p, err := parseSubnet("10.77.4.99/24", 3); err != nil || p.String() != "10.77.4.0/24" {
		t.Errorf("parseSubnet = %s, %v", p, err)
	}
	for _, bad := range []string{"", "10.77.4.0", "fd00::/64", "10.77.4.0/31", "10.77.4.0/28", "x/24"} {
		if _, err := parseSubnet(bad, 8); err == nil {
			t.Errorf("parseSubnet(%q): want error", bad)
		}
	}
}

func TestPickSubnetSkipsUsed(t *testing.T) {
	used := func(p netip.Prefix) bool { return p.Addr().As4()[2] < 5 }
	p, err := pickSubnet(254, used)
	if err != nil || p.String() != "10.77.254.0/24" {
		t.Errorf("seed 254: %s, %v", p, err)
	}
	p, err = pickSubnet(1, used)
	if err != nil || p.String() != "10.77.5.0/24" {
		t.Errorf("seed 1: %s, %v", p, err)
	}
	if _, err := pickSubnet(0, func(netip.Prefix) bool { return true }); err == nil {
		t.Error("all used: want error")
	}
}

func TestOwnerPID(t *testing.T) {
	for name, want := range map[string]int{
		"lst-4242-9f1c1-sw": 4242,
		"lst-1-x":           1,
		"lst-4242":          0,
		"lst--x":            0,
		"lst-0-x":           0,
		"lst-12a-x":         0,
		"logstream-a":       0,
		"lst-99999999999-x": 0,
	} {
		got, ok := ownerPID(name)
		if got != want || ok != (want != 0) {
			t.Errorf("ownerPID(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	pid, ok := ownerPID(newBaseName() + "-h0")
	if !ok || pid != os.Getpid() {
		t.Errorf("own name parses to %d, %v", pid, ok)
	}
}

func TestParsePIDs(t *testing.T) {
	got := parsePIDs("12\n  345\nnope\n-3\n0\n")
	if !reflect.DeepEqual(got, []int{12, 345}) {
		t.Errorf("parsePIDs = %v", got)
	}
}

func FuzzOwnerPID(f *testing.F) {
	f.Add("lst-4242-9f1c1-sw")
	f.Add("logstream-a")
	f.Fuzz(func(t *testing.T, name string) {
		pid, ok := ownerPID(name)
		if ok && (pid <= 0 || !strings.HasPrefix(name, namePrefix)) {
			t.Fatalf("ownerPID(%q) = %d, true", name, pid)
		}
	})
}

func FuzzParsePIDs(f *testing.F) {
	f.Add("1\n22\n333\n")
	f.Add("x\n-1\n")
	f.Fuzz(func(t *testing.T, out string) {
		for _, pid := range parsePIDs(out) {
			if pid <= 0 {
				t.Fatalf("parsePIDs(%q) returned %d", out, pid)
			}
		}
	})
}
