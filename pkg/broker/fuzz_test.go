package broker

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// fuzzBroker is one broker for a whole fuzz run, on 127.0.0.1 with
// discovery and multicast off: the fuzzed bytes reach it over net.Pipe.
func fuzzBroker(f *testing.F) *Broker {
	cfg := testConfig(f, f.TempDir())
	cfg.Name = "fuzz"
	cfg.MaxRecords = 1000
	cfg.MaxFrame = 64 << 10
	cfg.HandshakeTimeout = 2 * time.Second
	cfg.Logger = zerolog.Nop()
	b, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	f.Cleanup(func() { cancel(); <-done })
	return b
}

func frames(ms ...wire.Message) []byte {
	var b []byte
	for i, m := range ms {
		b = wire.AppendFrame(b, wire.Encode(m, uint64(i+1)))
	}
	return b
}

func clusterFrame(m cluster.Message) []byte {
	return wire.AppendFrame(nil, wire.Frame{Type: m.Type(), Body: m.AppendTo(nil)})
}

// FuzzPeer feeds arbitrary bytes, as one client connection, into a broker's
// connection handler and checks that it neither panics nor hangs: once the
// client side closes, the handler returns promptly.
func FuzzPeer(f *testing.F) {
	f.Add(frames(&wire.Metadata{}, &wire.Heartbeat{NodeID: "p", Role: wire.RoleProducer, Seq: 1}))
	f.Add(frames(&wire.Produce{Topic: "t", ProducerID: "p", Acks: 1, Records: []record.Record{{Seq: 1, Payload: []byte("a")}}},
		&wire.Consume{Topic: "t", MaxRecords: 10}))
	f.Add(frames(&wire.Subscribe{Topic: "t", ConsumerID: "c", Raw: true}, &wire.Subscribe{Topic: "t", Analytics: true}))
	f.Add(frames(&wire.Produce{Topic: "__x", ProducerID: "p"}, &wire.Consume{Topic: "t", Offset: 1 << 60}))
	f.Add(append(clusterFrame(&cluster.Coordinator{From: 9, View: 5, Leader: 9}),
		frames(&wire.Produce{Topic: "t", ProducerID: "p", Acks: 1})...))
	f.Add(clusterFrame(&cluster.Replicate{From: 9, View: 1, Topic: "t", Records: []record.Record{{Seq: 1}}}))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	// A shared-group member: its acknowledgements and leave on its
	// subscription's correlation id, and on another.
	var grp []byte
	grp = wire.AppendFrame(grp, wire.Encode(&wire.Subscribe{Topic: "t", ConsumerID: "c", Group: "g"}, 1))
	grp = wire.AppendFrame(grp, wire.Encode(&wire.GroupAck{Topic: "t", Group: "g", Ranges: []wire.GroupRange{{From: 0, To: 1 << 62}}}, 1))
	grp = wire.AppendFrame(grp, wire.Encode(&wire.GroupAck{Topic: "t", Group: "g", Leave: true}, 7))
	grp = wire.AppendFrame(grp, wire.Encode(&wire.GroupAck{Topic: "t", Group: "g", Leave: true}, 1))
	f.Add(grp)
	b := fuzzBroker(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		c := b.newClient(server)
		served := make(chan struct{})
		go func() {
			defer close(served)
			c.serve(context.Background())
		}()
		go io.Copy(io.Discard, client) // the broker's answers
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(in) // an error means the broker closed first: fine
		client.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatalf("the connection handler did not return after the client closed")
		}
	})
}
