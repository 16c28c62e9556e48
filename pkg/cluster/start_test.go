package cluster

import (
	"testing"
	"time"
)

func TestDecideStart(t *testing.T) {
	fresh := func(ids ...NodeID) Found {
		f := Found{Heard: HeardNoLeader}
		for _, id := range ids {
			f.Peers = append(f.Peers, FoundPeer{ID: id})
		}
		return f
	}
	cases := []struct {
		name      string
		remembers bool
		found     Found
		want      StartAction
	}{
		{"leader found", false, Found{Heard: HeardLeader}, StartJoin},
		{"leader found, restarted", true, Found{Heard: HeardLeader}, StartJoin},
		{"nobody, fresh", false, Found{Heard: HeardNobody}, StartBootstrap},
		{"nobody, restarted", true, Found{Heard: HeardNobody}, StartBootstrap},
		// The whole cluster restarted: everyone answers, nobody leads.
		{"no leader, restarted", true, Found{Heard: HeardNoLeader, Peers: []FoundPeer{{ID: 3, View: 7}}}, StartElect},
		// Fresh brokers started together: the highest id founds the cluster.
		{"fresh together, highest", false, fresh(3, 4), StartBootstrap},
		{"fresh together, not highest", false, fresh(3, 6), StartWait},
		{"fresh together, an unreadable id", false, fresh(0, 4), StartBootstrap},
		{"fresh beside a restarting cluster", false, Found{Heard: HeardNoLeader, Peers: []FoundPeer{{ID: 2, View: 4}}}, StartWait},
		{"discovery failed", true, Found{Heard: HeardError}, StartWait},
		{"discovery failed, fresh", false, Found{}, StartWait},
	}
	for _, c := range cases {
		if got := DecideStart(5, c.remembers, c.found); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestStartPause(t *testing.T) {
	const ft = 3 * time.Second
	for _, c := range []struct {
		attempt int
		act     StartAction
		want    time.Duration
	}{
		{0, StartWait, 500 * time.Millisecond},
		{3, StartWait, 2 * time.Second},
		{20, StartWait, 5 * time.Second},
		{0, StartJoin, ft},
		{20, StartElect, 5 * time.Second},
	} {
		if got := StartPause(c.attempt, c.act, ft); got != c.want {
			t.Errorf("attempt %d after %v: %v, want %v", c.attempt, c.act, got, c.want)
		}
	}
}
