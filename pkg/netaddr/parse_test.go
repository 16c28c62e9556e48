package netaddr

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/defaults"
)

func TestParseBrokerAddress(t *testing.T) {
	autoIP := netip.MustParseAddr("172.28.226.14")
	auto := func() (netip.Addr, error) { return autoIP, nil }
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "", want: "172.28.226.14:8001"},
		{in: "  ", want: "172.28.226.14:8001"},
		{in: "8002", want: "172.28.226.14:8002"},
		{in: ":8002", want: "172.28.226.14:8002"},
		{in: "172.28.226.255:8001", want: "172.28.226.255:8001"}, // the manual's own example
		{in: "127.0.0.1:8003", want: "127.0.0.1:8003"},
		{in: "::ffff:10.0.0.1:8001", wantErr: "brackets"},
		{in: "[::ffff:10.0.0.1]:8001", want: "10.0.0.1:8001"},
		{in: "70000", wantErr: "--address: port 70000 out of range (1-65535)"},
		{in: ":70000", wantErr: "--address: port 70000 out of range"},
		{in: "99999999999999999999999", wantErr: "out of range"},
		{in: "0", wantErr: "port 0 out of range"},
		{in: "10.0.0.1:0", wantErr: "port 0 out of range"},
		{in: ":", wantErr: "missing port"},
		{in: ":abc", wantErr: `port "abc" is not a number`},
		{in: "10.0.0.1", wantErr: "has no port"},
		{in: "10.0.0.1:", wantErr: "missing port"},
		{in: "localhost:8001", wantErr: "not an IP address (host names are not resolved)"},
		{in: "0.0.0.0:8001", wantErr: "cannot be dialled"},
		{in: "239.0.0.1:9999", wantErr: "multicast"},
		{in: "[::1]:8001", wantErr: "not an IPv4 address"},
		{in: "-1", wantErr: "has no port"},
		{in: strings.Repeat("9", 300), wantErr: "bytes long"},
	}
	for _, tt := range tests {
		got, err := ParseBrokerAddress(tt.in, defaults.BrokerPort, auto)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "--address: ") {
				t.Errorf("ParseBrokerAddress(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddrPort(tt.want) {
			t.Errorf("ParseBrokerAddress(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestParseBrokerAddressAuto(t *testing.T) {
	calls := 0
	auto := func() (netip.Addr, error) { calls++; return netip.Addr{}, errors.New("no network") }
	if _, err := ParseBrokerAddress("10.0.0.1:8001", 8001, auto); err != nil || calls != 0 {
		t.Fatalf("explicit address: err %v, auto called %d times", err, calls)
	}
	_, err := ParseBrokerAddress("8002", 8001, auto)
	if err == nil || !strings.Contains(err.Error(), "no network") || !strings.Contains(err.Error(), "IP:PORT") {
		t.Errorf("auto failure not explained: %v", err)
	}
	if _, err := ParseBrokerAddress("", 8001, nil); err == nil {
		t.Error("nil auto accepted")
	}
	if _, err := ParseBrokerAddress("", 0, func() (netip.Addr, error) { return LoopbackIP, nil }); err == nil {
		t.Error("empty address with no default port accepted")
	}
}

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "192.168.1.10:8001", want: "192.168.1.10:8001"},
		{in: " 10.0.0.1:1 ", want: "10.0.0.1:1"},
		{in: "[::1]:8001", want: "[::1]:8001"},
		{in: "[fe80::1%eth0]:8001", wantErr: "zoned"},
		{in: "::1:8001", wantErr: "brackets"},
		{in: "", wantErr: "empty address"},
		{in: ":8001", wantErr: "has no IP"},
		{in: "host.example:8001", wantErr: "host names are not resolved"},
		{in: "10.0.0.1:65536", wantErr: "port 65536 out of range"},
		{in: "10.0.0.1:+80", wantErr: "not a number"},
		{in: "255.255.255.255:80", want: "255.255.255.255:80"},
	}
	for _, tt := range tests {
		got, err := parseHostPort(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseHostPort(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddrPort(tt.want) {
			t.Errorf("parseHostPort(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseHostPort: any input gives an address or an error, never a panic,
// and an accepted address round-trips through its string form.
func FuzzParseHostPort(f *testing.F) {
	for _, s := range []string{"192.168.1.10:8001", "[::1]:80", ":8001", "a:b:c", "[", "]:1", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := parseHostPort(s)
		if err != nil {
			return
		}
		if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
			t.Fatalf("parseHostPort(%q) accepted %v", s, ap)
		}
		back, err := parseHostPort(ap.String())
		if err != nil || back != ap {
			t.Fatalf("round trip of %v: %v, %v", ap, back, err)
		}
	})
}

// FuzzParseBrokerAddress: accepted addresses are always dialable IPv4 with a
// real port.
func FuzzParseBrokerAddress(f *testing.F) {
	for _, s := range []string{"", "8002", ":8002", "172.28.226.255:8001", "70000", "::", "0.0.0.0:1"} {
		f.Add(s)
	}
	auto := func() (netip.Addr, error) { return netip.MustParseAddr("10.0.0.1"), nil }
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseBrokerAddress(s, defaults.BrokerPort, auto)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--address: ") {
				t.Fatalf("error without flag name: %v", err)
			}
			return
		}
		if !ap.Addr().Is4() || ap.Port() == 0 || ap.Addr().IsUnspecified() {
			t.Fatalf("ParseBrokerAddress(%q) accepted %v", s, ap)
		}
	})
}
