package discovery

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/logstream/logstream/pkg/netaddr"
	"github.com/logstream/logstream/pkg/wire"
)

func ans(from string, r wire.JoinResponse) answer {
	return answer{from: netip.MustParseAddrPort(from), resp: r}
}

func TestDecide(t *testing.T) {
	l1 := wire.JoinResponse{ResponderID: "n1", ResponderAddr: "10.0.0.1:8001", IsLeader: true, LeaderID: "n1", LeaderAddr: "10.0.0.1:8001", View: 3}
	l1bare := wire.JoinResponse{ResponderID: "n1", ResponderAddr: "10.0.0.1:8001", IsLeader: true, View: 3}
	l2 := wire.JoinResponse{ResponderID: "n2", ResponderAddr: "10.0.0.2:8001", IsLeader: true, LeaderID: "n2", LeaderAddr: "10.0.0.2:8001", View: 4}
	f2 := wire.JoinResponse{ResponderID: "n2", LeaderID: "n1", LeaderAddr: "10.0.0.1:8001", View: 3}
	f3 := wire.JoinResponse{ResponderID: "n3", LeaderID: "n1", LeaderAddr: "10.0.0.1:8001", View: 5}
	f3other := wire.JoinResponse{ResponderID: "n3", LeaderID: "n4", LeaderAddr: "10.0.0.4:8001", View: 5}
	stale := wire.JoinResponse{ResponderID: "n3", LeaderID: "n9", LeaderAddr: "10.0.0.9:8001", View: 9}
	electing := wire.JoinResponse{ResponderID: "n3", View: 5}

	tests := []struct {
		name    string
		in      []answer
		want    outcome
		leader  string
		addr    string
		view    uint64
		from    string
		leaders int
	}{
		{name: "nothing", want: outcomeNone},
		{name: "leader alone", in: []answer{ans("10.0.0.1:8888", l1)}, want: outcomeFound, leader: "n1", addr: "10.0.0.1:8001", view: 3, from: "10.0.0.1:8888", leaders: 1},
		{name: "leader without LeaderID fields", in: []answer{ans("10.0.0.1:8888", l1bare)}, want: outcomeFound, leader: "n1", addr: "10.0.0.1:8001", view: 3, from: "10.0.0.1:8888", leaders: 1},
		{name: "leader's own answer wins over follower", in: []answer{ans("10.0.0.3:8888", stale), ans("10.0.0.1:8888", l1)}, want: outcomeFound, leader: "n1", addr: "10.0.0.1:8001", view: 3, from: "10.0.0.1:8888", leaders: 1},
		{name: "two leaders", in: []answer{ans("10.0.0.1:8888", l1), ans("10.0.0.2:8888", l2)}, want: outcomeSplitBrain, leaders: 2},
		{name: "followers agree; newest view kept", in: []answer{ans("10.0.0.2:8888", f2), ans("10.0.0.3:8888", f3)}, want: outcomeFound, leader: "n1", addr: "10.0.0.1:8001", view: 5, from: "10.0.0.3:8888", leaders: 1},
		{name: "followers disagree", in: []answer{ans("10.0.0.2:8888", f2), ans("10.0.0.3:8888", f3other)}, want: outcomeSplitBrain, leaders: 2},
		{name: "election running", in: []answer{ans("10.0.0.3:8888", electing)}, want: outcomeNoLeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := decide(tt.in)
			if v.outcome != tt.want {
				t.Fatalf("outcome = %v, want %v", v.outcome, tt.want)
			}
			if len(v.leaders) != tt.leaders {
				t.Errorf("leaders = %v, want %d", v.leaders, tt.leaders)
			}
			if tt.want != outcomeFound {
				return
			}
			r := v.result
			if r.LeaderID != tt.leader || r.LeaderAddr != tt.addr || r.View != tt.view || r.Responder != netip.MustParseAddrPort(tt.from) {
				t.Errorf("result = %+v", r)
			}
		})
	}
}

func TestDefaultTargets(t *testing.T) {
	lo := netaddr.Iface{Name: "lo", Up: true, Loopback: true, BroadcastAddrs: []netip.Addr{netaddr.LoopbackBroadcast}}
	eth0 := netaddr.Iface{Name: "eth0", Up: true, Broadcast: true, BroadcastAddrs: []netip.Addr{netip.MustParseAddr("10.77.0.255"), netip.MustParseAddr("192.168.1.255")}}
	eth1down := netaddr.Iface{Name: "eth1", Broadcast: true, BroadcastAddrs: []netip.Addr{netip.MustParseAddr("172.16.0.255")}}
	dup := netaddr.Iface{Name: "eth2", Up: true, Broadcast: true, BroadcastAddrs: []netip.Addr{netip.MustParseAddr("10.77.0.255")}}
	aps := func(ss ...string) []netip.AddrPort {
		var out []netip.AddrPort
		for _, s := range ss {
			out = append(out, netip.MustParseAddrPort(s))
		}
		return out
	}
	tests := []struct {
		name string
		in   []netaddr.Iface
		want []netip.AddrPort
	}{
		{"LAN", []netaddr.Iface{lo, eth0, eth1down, dup}, aps("10.77.0.255:8888", "192.168.1.255:8888")},
		{"loopback only", []netaddr.Iface{lo, eth1down}, aps("127.255.255.255:8888")},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		if got := DefaultTargets(tt.in, 8888); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
