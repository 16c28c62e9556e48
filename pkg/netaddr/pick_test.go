package netaddr

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

var (
	lo = Iface{Name: "lo", Index: 1, Up: true, Loopback: true, Addrs: pfx("127.0.0.1/8", "::1/128")}
)

func eth(name string, up bool, addrs ...string) Iface {
	return Iface{Name: name, Up: up, Broadcast: true, Multicast: true, Addrs: pfx(addrs...)}
}

func TestPick(t *testing.T) {
	tests := []struct {
		name    string
		ifaces  []Iface
		wantIf  string
		wantIP  string
		wantBC  string // "" = invalid
		wantErr bool
	}{
		{name: "eth0 private", ifaces: []Iface{lo, eth("eth0", true, "192.168.1.10/24")},
			wantIf: "eth0", wantIP: "192.168.1.10", wantBC: "192.168.1.255"},
		{name: "global address", ifaces: []Iface{lo, eth("eth0", true, "fd00::2/64", "192.0.2.2/24")},
			wantIf: "eth0", wantIP: "192.0.2.2", wantBC: "192.0.2.255"},
		{name: "first in kernel order wins", ifaces: []Iface{lo, eth("eth0", true, "10.0.0.5/8"), eth("eth1", true, "172.16.0.5/12")},
			wantIf: "eth0", wantIP: "10.0.0.5", wantBC: "10.255.255.255"},
		{name: "down interface skipped", ifaces: []Iface{lo, eth("eth0", false, "10.0.0.5/8"), eth("eth1", true, "172.16.0.5/12")},
			wantIf: "eth1", wantIP: "172.16.0.5", wantBC: "172.31.255.255"},
		{name: "link-local skipped", ifaces: []Iface{lo, eth("eth0", true, "169.254.3.4/16", "10.1.2.3/24")},
			wantIf: "eth0", wantIP: "10.1.2.3", wantBC: "10.1.2.255"},
		{name: "broadcast-capable preferred over /32", ifaces: []Iface{lo, eth("eth0", true, "10.9.9.9/32"), eth("eth1", true, "10.1.2.3/24")},
			wantIf: "eth1", wantIP: "10.1.2.3", wantBC: "10.1.2.255"},
		{name: "no broadcast flag: reachable but no broadcast", ifaces: []Iface{lo, {Name: "wg0", Up: true, Addrs: pfx("10.8.0.2/24")}},
			wantIf: "wg0", wantIP: "10.8.0.2"},
		{name: "only /32: reachable, no broadcast", ifaces: []Iface{lo, eth("ens4", true, "10.128.0.7/32")},
			wantIf: "ens4", wantIP: "10.128.0.7"},
		{name: "IPv6 only falls back to loopback", ifaces: []Iface{lo, eth("eth0", true, "fd00::2/64")},
			wantIf: "lo", wantIP: "127.0.0.1", wantBC: "127.255.255.255"},
		{name: "loopback only (fresh netns)", ifaces: []Iface{lo},
			wantIf: "lo", wantIP: "127.0.0.1", wantBC: "127.255.255.255"},
		{name: "loopback down", ifaces: []Iface{{Name: "lo", Loopback: true, Addrs: pfx("127.0.0.1/8")}}, wantErr: true},
		{name: "nothing", ifaces: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Pick(tt.ifaces)
			if tt.wantErr {
				if !errors.Is(err, errNoAddress) {
					t.Fatalf("Pick = %+v, %v; want errNoAddress", c, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Iface.Name != tt.wantIf || c.IP != netip.MustParseAddr(tt.wantIP) {
				t.Errorf("Pick = %s %s, want %s %s", c.Iface.Name, c.IP, tt.wantIf, tt.wantIP)
			}
			var wantBC netip.Addr
			if tt.wantBC != "" {
				wantBC = netip.MustParseAddr(tt.wantBC)
			}
			if c.Broadcast != wantBC {
				t.Errorf("Broadcast = %v, want %v", c.Broadcast, wantBC)
			}
			if !strings.Contains(c.Reason, c.Iface.Name) {
				t.Errorf("Reason %q does not name the interface", c.Reason)
			}
		})
	}
}

func TestFromNet(t *testing.T) {
	_, n24, _ := net.ParseCIDR("10.77.0.10/24")
	n24.IP = net.ParseIP("10.77.0.10") // ParseCIDR masks the IP; interfaces report the host address
	_, n6, _ := net.ParseCIDR("fd00::2/64")
	n6.IP = net.ParseIP("fd00::2")
	ni := &net.Interface{Name: "eth0", Index: 2, MTU: 1500, Flags: net.FlagUp | net.FlagBroadcast | net.FlagMulticast}
	it := fromNet(ni, []net.Addr{n24, n6, &net.IPAddr{IP: net.ParseIP("1.2.3.4")}})
	if !it.Up || it.Loopback || !it.Broadcast || !it.Multicast || it.MTU != 1500 || it.Index != 2 {
		t.Errorf("flags wrong: %+v", it)
	}
	if len(it.Addrs) != 2 || it.Addrs[0] != netip.MustParsePrefix("10.77.0.10/24") || it.Addrs[1] != netip.MustParsePrefix("fd00::2/64") {
		t.Errorf("Addrs = %v", it.Addrs)
	}
	if len(it.BroadcastAddrs) != 1 || it.BroadcastAddrs[0] != netip.MustParseAddr("10.77.0.255") {
		t.Errorf("BroadcastAddrs = %v", it.BroadcastAddrs)
	}
	// A point-to-point interface without IFF_BROADCAST gets no broadcast address.
	ni.Flags = net.FlagUp | net.FlagPointToPoint
	if it := fromNet(ni, []net.Addr{n24}); len(it.BroadcastAddrs) != 0 {
		t.Errorf("non-broadcast interface got %v", it.BroadcastAddrs)
	}
}

// TestInterfacesReadsOnly checks the real listing; it reads kernel state and
// opens no socket, so it is safe in the machine's own namespace.
func TestInterfacesReadsOnly(t *testing.T) {
	ifs, err := Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range ifs {
		if it.Name == "" || it.Index <= 0 {
			t.Errorf("bad interface %+v", it)
		}
	}
}
