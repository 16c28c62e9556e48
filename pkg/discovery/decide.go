package discovery

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/logstream/logstream/pkg/wire"
)

// answer is one JOIN_RESPONSE and where it came from.
type answer struct {
	from    netip.AddrPort
	resp    wire.JoinResponse
	refused string // a refusal for our key, not an answer
}

type outcome int

const (
	outcomeNone       outcome = iota // nobody answered
	outcomeFound                     // one leader
	outcomeSplitBrain                // answers name more than one leader
	outcomeNoLeader                  // brokers answered but none knows a leader (election running)
)

type verdict struct {
	outcome outcome
	result  Result
	leaders []string // "id@addr (view N)" of every leader named, for logs and errors
}

// decide turns one attempt's answers into a verdict:
//
//   - a leader's own answer wins: if exactly one leader answered for
//     itself, that is the leader, whatever followers say;
//   - two or more leaders answering for themselves is split brain;
//   - with no leader among the answers, followers that all name the same
//     leader are believed (the answer with the highest view is kept);
//     followers naming different leaders are treated like split brain;
//   - answers that name no leader mean an election is running.
func decide(answers []answer) verdict {
	if len(answers) == 0 {
		return verdict{outcome: outcomeNone}
	}
	self := map[string]answer{}
	named := map[string]answer{}
	for _, a := range answers {
		r := a.resp
		id, addr := r.LeaderID, r.LeaderAddr
		if r.IsLeader {
			if id == "" {
				id = r.ResponderID
			}
			if addr == "" {
				addr = r.ResponderAddr
			}
			a.resp.LeaderID, a.resp.LeaderAddr = id, addr
			keepNewest(self, id, a)
			continue
		}
		if id != "" {
			keepNewest(named, id, a)
		}
	}
	pool := self
	if len(pool) == 0 {
		pool = named
	}
	switch len(pool) {
	case 0:
		return verdict{outcome: outcomeNoLeader}
	case 1:
		for _, a := range pool {
			return verdict{outcome: outcomeFound, result: resultOf(a), leaders: describe(pool)}
		}
	}
	return verdict{outcome: outcomeSplitBrain, leaders: describe(pool)}
}

func keepNewest(m map[string]answer, id string, a answer) {
	if old, ok := m[id]; !ok || a.resp.View > old.resp.View {
		m[id] = a
	}
}

func resultOf(a answer) Result {
	return Result{
		LeaderID:   a.resp.LeaderID,
		LeaderAddr: a.resp.LeaderAddr,
		View:       a.resp.View,
		Brokers:    a.resp.Brokers,
		Responder:  a.from,
	}
}

func describe(m map[string]answer) []string {
	out := make([]string, 0, len(m))
	for id, a := range m {
		c := ""
		if a.resp.Cluster != "" && a.resp.Cluster != "none" {
			c = ", cluster " + a.resp.Cluster // two clusters on one LAN: say which is which
		}
		out = append(out, fmt.Sprintf("%s@%s (view %d%s)", id, a.resp.LeaderAddr, a.resp.View, c))
	}
	sort.Strings(out)
	return out
}
