package broker

import (
	"errors"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/discovery"
)

// found turns one round of discovery (findLeader's result) into what the
// start rule, cluster.DecideStart, reads.
func found(res discovery.Result, err error) cluster.Found {
	switch {
	case err == nil:
		return cluster.Found{Heard: cluster.HeardLeader}
	case errors.Is(err, errNoCluster):
		return cluster.Found{Heard: cluster.HeardNobody}
	case !errors.Is(err, discovery.ErrNoLeader):
		return cluster.Found{Heard: cluster.HeardError}
	}
	f := cluster.Found{Heard: cluster.HeardNoLeader}
	for _, p := range res.Peers {
		id, _ := parseID(p.ID) // 0 when unreadable: never outranks us
		f.Peers = append(f.Peers, cluster.FoundPeer{ID: id, View: p.View})
	}
	return f
}
