package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/logstream/logstream/pkg/discovery"
)

func TestDecideStart(t *testing.T) {
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
		want      startAction
	}{
		{"leader found", false, discovery.Result{LeaderID: "9"}, nil, actJoin},
		{"leader found, restarted", true, discovery.Result{LeaderID: "9"}, nil, actJoin},
		{"nobody, fresh", false, discovery.Result{}, errNoCluster, actBootstrap},
		{"nobody, restarted", true, discovery.Result{}, errNoCluster, actBootstrap},
		// The whole cluster restarted: everyone answers, nobody leads.
		{"no leader, restarted", true, discovery.Result{Peers: []discovery.Peer{{ID: "3", View: 7}}}, noLeader, actElect},
		// Fresh brokers started together: the highest id founds the cluster.
		{"fresh together, highest", false, fresh("3", "4"), noLeader, actBootstrap},
		{"fresh together, not highest", false, fresh("3", "6"), noLeader, actWait},
		{"fresh beside a restarting cluster", false, discovery.Result{Peers: []discovery.Peer{{ID: "2", View: 4}}}, noLeader, actWait},
		{"split brain", false, discovery.Result{}, discovery.ErrSplitBrain, actWait},
		{"other error", true, discovery.Result{}, errors.New("socket"), actWait},
	}
	for _, c := range cases {
		if got := decideStart(5, c.remembers, c.res, c.err); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
