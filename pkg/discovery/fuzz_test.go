package discovery

import (
	"testing"

	"github.com/logstream/logstream/pkg/wire"
)

// FuzzParseJoin: whatever arrives on the discovery port, the Responder's
// decoder returns a JOIN or an error, and a JOIN it accepts re-encodes to the
// same datagram's meaning.
func FuzzParseJoin(f *testing.F) {
	f.Add(appendJoin(nil, wire.Join{Role: wire.RoleBroker, NodeID: "node1", Addr: "10.0.0.1:8001", Nonce: 1}))
	f.Add(appendJoin(nil, wire.Join{}))
	f.Add([]byte("JOIN"))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, _, err := parseJoin(b)
		if err != nil {
			return
		}
		again, _, err := parseJoin(appendJoin(nil, j))
		if err != nil || again != j {
			t.Fatalf("re-encoding %+v gave %+v, %v", j, again, err)
		}
	})
}

// FuzzParseJoinResponse: the asking side's decoder never panics on a reply.
func FuzzParseJoinResponse(f *testing.F) {
	f.Add(appendJoinResponse(nil, wire.JoinResponse{Nonce: 7, ResponderID: "node1", IsLeader: true, LeaderID: "node1",
		LeaderAddr: "10.0.0.1:8001", View: 3, Brokers: []wire.BrokerInfo{{ID: "node1", Addr: "10.0.0.1:8001", State: "alive"}}}, 7))
	f.Add(appendJoinResponse(nil, wire.JoinResponse{}, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseJoinResponse(b)
		if err != nil {
			return
		}
		if _, err := parseJoinResponse(appendJoinResponse(nil, r, 0)); err != nil {
			t.Fatalf("re-encoding %+v: %v", r, err)
		}
	})
}
