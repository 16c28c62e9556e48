package broker

import (
	"testing"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// A broker reads its own multicast back (the group loops it): openDatagram
// drops such a datagram before decoding it, without counting it as bad, and
// still decodes a member's.
func TestOwnDatagramSkipped(t *testing.T) {
	b := startBroker(t, t.TempDir(), nil)
	r := b.cluster
	recs := []record.Record{{Offset: 0, ProducerID: "p", Seq: 1, Payload: []byte("x")}}
	datagram := func(from cluster.NodeID) []byte {
		m := &cluster.Replicate{From: from, View: 1, Topic: "t", Records: recs}
		return wire.AppendFrame(nil, wire.Frame{Type: m.Type(), Body: m.AppendTo(nil)})
	}
	replay := wire.NewReplayWindow(16)
	if m, err := r.openDatagram(datagram(r.id), nil, replay); err != errOwnDatagram || m != nil {
		t.Fatalf("own datagram: %v, %v; want nil, errOwnDatagram", m, err)
	}
	m, err := r.openDatagram(datagram(r.id+1), nil, replay)
	if err != nil {
		t.Fatalf("a member's datagram: %v", err)
	}
	if rep, ok := m.(*cluster.Replicate); !ok || rep.From != r.id+1 || len(rep.Records) != 1 {
		t.Fatalf("a member's datagram decoded as %#v", m)
	}
	if n := b.counters.udpBad.Load(); n != 0 {
		t.Fatalf("udpBad = %d, want 0", n)
	}
}
