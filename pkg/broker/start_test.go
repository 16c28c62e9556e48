package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/discovery"
)

// The broker's discovery outcomes reach the start rule as it decides them.
func TestFoundDecidesStart(t *testing.T) {
	noLeader := fmt.Errorf("%w after 2 attempts", discovery.ErrNoLeader)
	fresh := func(ids ...string) discovery.Result {
		var r discovery.Result
		for _, id := range ids {
			r.Peers = append(r.Peers, discovery.Peer{ID: id})
		}
		return r
	}
	cases := []struct {
		name      string
		remembers bool
		res       discovery.Result
		err       error
		want      cluster.StartAction
	}{
		{"leader found", false, discovery.Result{LeaderID: "9"}, nil, cluster.StartJoin},
		{"leader found, restarted", true, discovery.Result{LeaderID: "9"}, nil, cluster.StartJoin},
		{"nobody, fresh", false, discovery.Result{}, errNoCluster, cluster.StartBootstrap},
		{"nobody, restarted", true, discovery.Result{}, errNoCluster, cluster.StartBootstrap},
		// The whole cluster restarted: everyone answers, nobody leads.
		{"no leader, restarted", true, discovery.Result{Peers: []discovery.Peer{{ID: "3", View: 7}}}, noLeader, cluster.StartElect},
		// Fresh brokers started together: the highest id founds the cluster.
		{"fresh together, highest", false, fresh("3", "4"), noLeader, cluster.StartBootstrap},
		{"fresh together, not highest", false, fresh("3", "6"), noLeader, cluster.StartWait},
		{"fresh beside a restarting cluster", false, discovery.Result{Peers: []discovery.Peer{{ID: "2", View: 4}}}, noLeader, cluster.StartWait},
		{"split brain", false, discovery.Result{}, discovery.ErrSplitBrain, cluster.StartWait},
		{"other error", true, discovery.Result{}, errors.New("socket"), cluster.StartWait},
	}
	for _, c := range cases {
		if got := cluster.DecideStart(5, c.remembers, found(c.res, c.err)); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
