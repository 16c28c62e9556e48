package cluster

import (
	"errors"
	"reflect"
	"testing"

	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func sampleView() View {
	return View{Number: 7, Leader: 3, Members: []Member{{1, "10.0.0.1:7000"}, {3, "10.0.0.3:7000"}}, Prev: []NodeID{1, 2, 3}}
}

func sampleRecords() []record.Record {
	return []record.Record{
		{Offset: 10, Timestamp: 1, ProducerID: "p1", Seq: 4, Payload: []byte("a")},
		{Offset: 11, Timestamp: 2, ProducerID: "p2", Seq: 9, Payload: []byte("bc")},
	}
}

func sampleMessages() []Message {
	h := []Epoch{{1, 0}, {4, 17}}
	return []Message{
		&Election{From: 1, View: 2, Candidate: 5, Addr: "10.0.0.1:8001"},
		&Election{From: 1, View: 2, Candidate: 5, Addr: "10.0.0.1:8001", Forced: true, Skipped: []NodeID{2, 4}},
		&Coordinator{From: 5, View: 2, Leader: 5},
		&ElectionAck{Tag: Tag{Cluster: 9}, From: 3, View: 2},
		&StateExchange{From: 5, View: 2, Proposal: 3, Addr: "10.0.0.5:8001"},
		&StateExchangeResponse{From: 1, View: 2, Proposal: 3, OK: true, Promised: 3, Active: 2, Current: sampleView(),
			Topics: []TopicState{{Topic: "logs", Owner: 3, End: 20, Committed: 18, History: h}, {Topic: "m"}}},
		&StateExchangeResponse{From: 1, View: 2, Proposal: 3, Promised: 9},
		&ViewInstall{From: 3, View: 7, NewView: sampleView(),
			Topics: []TopicAssign{{Topic: "logs", Owner: 3, Source: 1, End: 20, Committed: 18, History: h}, {Topic: "x"}}},
		&Replicate{From: 3, View: 7, Topic: "logs", First: 10, Commit: 9, Records: sampleRecords()},
		&Replicate{From: 3, View: 7, Topic: "logs", First: 12, Commit: 12},
		&ReplicateAck{From: 1, View: 7, Topic: "logs", End: 12},
		&Fetch{From: 1, View: 7, Topic: "logs", Offset: 10, Max: 256},
		&FetchResponse{From: 3, View: 7, Topic: "logs", First: 10, Start: 4, Commit: 11, Records: sampleRecords()},
		&Heartbeat{Tag: Tag{Cluster: 0xfeedface}, From: 3, View: 7, Leader: 3, IsLeader: true, Active: true, Synced: true, Addr: "10.0.0.3:7000", Holds: true},
		&BrokerJoin{From: 9, View: 0, Promised: 4, PromisedTo: 3, Addr: "10.0.0.9:7000"},
		&BrokerJoinResponse{From: 3, View: 7, Leader: Member{3, "10.0.0.3:7000"}, Accepted: true},
		&BrokerJoinResponse{Tag: Tag{Cluster: 77}, From: 3, View: 7, Leader: Member{3, "10.0.0.3:7000"}, Refused: true},
		// A requester below the responder's start learns where to skip to.
		&FetchResponse{From: 3, View: 7, Topic: "logs", First: 900, Start: 900, Commit: 950},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		body := m.AppendTo(nil)
		got, err := DecodeMessage(m.Type(), body)
		if err != nil {
			t.Fatalf("%v: %v", m.Type(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%v: round trip\n got %#v\nwant %#v", m.Type(), got, m)
		}
		// Every strict prefix is an error, never a panic or a wrong message.
		for i := range body {
			if _, err := DecodeMessage(m.Type(), body[:i]); err == nil {
				t.Errorf("%v: prefix of %d/%d bytes decoded", m.Type(), i, len(body))
			}
		}
		if _, err := DecodeMessage(m.Type(), append(body, 0)); err == nil {
			t.Errorf("%v: trailing byte accepted", m.Type())
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]struct {
		typ  wire.Type
		body []byte
	}{
		"not a cluster type": {wire.TypeProduce, (&Election{From: 1}).AppendTo(nil)},
		"sender zero":        {wire.TypeElection, (&Election{From: 0, Candidate: 1}).AppendTo(nil)},
		"unsorted members": {wire.TypeViewInstall, (&ViewInstall{From: 1, View: 2,
			NewView: View{Number: 2, Members: []Member{{2, ""}, {1, ""}}}}).AppendTo(nil)},
		"install number mismatch": {wire.TypeViewInstall, (&ViewInstall{From: 1, View: 3, NewView: View{Number: 2}}).AppendTo(nil)},
		"records not contiguous": {wire.TypeReplicate, (&Replicate{From: 1, Topic: "t", First: 10,
			Records: []record.Record{{Offset: 10}, {Offset: 12}}}).AppendTo(nil)},
		"first mismatch": {wire.TypeFetchResponse, (&FetchResponse{From: 1, Topic: "t", First: 9,
			Records: []record.Record{{Offset: 10}}}).AppendTo(nil)},
		"records below start": {wire.TypeFetchResponse, (&FetchResponse{From: 1, Topic: "t", First: 10, Start: 11,
			Records: []record.Record{{Offset: 10}}}).AppendTo(nil)},
		"history not ascending": {wire.TypeViewInstall, (&ViewInstall{From: 1, View: 2, NewView: View{Number: 2},
			Topics: []TopicAssign{{Topic: "t", History: []Epoch{{5, 0}, {3, 10}}}}}).AppendTo(nil)},
		"huge member count": {wire.TypeViewInstall, append((&Heartbeat{From: 1, View: 2}).AppendTo(nil)[:16],
			0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0x0f)},
	}
	for name, c := range cases {
		_, err := DecodeMessage(c.typ, c.body)
		if err == nil {
			t.Errorf("%s: decoded", name)
			continue
		}
		if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%s: error %v is neither ErrMalformed nor ErrTruncated", name, err)
		}
	}
}

// FuzzDecodeMessage: any input decodes to an error or to a message whose
// encoding decodes to the same message.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(uint8(m.Type()), m.AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, typ uint8, body []byte) {
		m, err := DecodeMessage(wire.Type(typ), body)
		if err != nil {
			return
		}
		again, err := DecodeMessage(m.Type(), m.AppendTo(nil))
		if err != nil {
			t.Fatalf("re-decode of %v: %v", m.Type(), err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("%v: re-encoding changed the message", m.Type())
		}
	})
}

// Sender reads the sending node of every message kind from its encoded
// body alone, and refuses a body too short to name one.
func TestSender(t *testing.T) {
	for _, m := range sampleMessages() {
		from, _ := m.header()
		got, ok := Sender(m.AppendTo(nil))
		if !ok || got != from {
			t.Errorf("%T: Sender = %d, %v; want %d", m, got, ok, from)
		}
	}
	if _, ok := Sender(make([]byte, 7)); ok {
		t.Error("Sender of a 7-byte body: ok, want not")
	}
}

// DecodeMessageInto decodes a REPLICATE's records into the slice it is
// given when that has room, with the same result as DecodeMessage.
func TestDecodeMessageIntoReusesRecords(t *testing.T) {
	m := &Replicate{From: 3, View: 7, Topic: "logs", First: 10, Commit: 9, Records: sampleRecords()}
	body := m.AppendTo(nil)
	want, err := DecodeMessage(m.Type(), body)
	if err != nil {
		t.Fatal(err)
	}
	spare := make([]record.Record, 0, 4)
	got, err := DecodeMessageInto(m.Type(), body, spare)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeMessageInto = %#v, want %#v", got, want)
	}
	if &got.(*Replicate).Records[0] != &spare[:1][0] {
		t.Fatal("the records were not decoded into the slice given")
	}
}
