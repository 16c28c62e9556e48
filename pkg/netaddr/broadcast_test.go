package netaddr

import (
	"net/netip"
	"testing"
)

func TestBroadcastAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means no broadcast address
	}{
		{"10.77.0.10/24", "10.77.0.255"},
		{"172.28.226.14/20", "172.28.239.255"},
		{"192.168.1.1/16", "192.168.255.255"},
		{"127.0.0.1/8", "127.255.255.255"},
		{"10.0.0.1/30", "10.0.0.3"},
		{"0.0.0.0/0", "255.255.255.255"},
		{"10.0.0.1/31", ""},
		{"10.0.0.1/32", ""},
		{"fd00::2/64", ""},
		{"::ffff:10.0.0.1/120", ""}, // a mapped prefix counts IPv6 bits: not a subnet we broadcast to
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.in)
		got, ok := BroadcastAddr(p)
		if tt.want == "" {
			if ok {
				t.Errorf("BroadcastAddr(%s) = %s, want none", tt.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("BroadcastAddr(%s) = %s, %v; want %s", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := BroadcastAddr(netip.Prefix{}); ok {
		t.Error("BroadcastAddr(zero prefix) reported an address")
	}
}
