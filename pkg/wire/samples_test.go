package wire

import (
	"bytes"
	"math"

	"github.com/logstream/logstream/pkg/record"
)

// samples returns at least one filled-in message of every type 1..15, plus
// edge cases. Record payloads are non-empty because record.Decode returns an
// empty (non-nil) payload for an empty one.
func samples() []Message {
	recs := []record.Record{
		{Timestamp: 1700000000123456789, Seq: 1, Payload: []byte("hello")},
		{Offset: 9, Timestamp: -1, ProducerID: "prod2", Seq: 1 << 40, Payload: bytes.Repeat([]byte{0}, 300)},
	}
	brokers := []BrokerInfo{{ID: "node1", Addr: "10.0.0.1:8001", State: "alive"}, {ID: "node2", Addr: "10.0.0.2:8001", State: "suspect"}}
	return []Message{
		&Join{Role: RoleProducer, NodeID: "prod1", Addr: "10.0.0.9:8002", Nonce: 0xDEADBEEF},
		&Join{},
		&JoinResponse{Nonce: 7, ResponderID: "node2", ResponderAddr: "10.0.0.2:8001", IsLeader: true,
			LeaderID: "node1", LeaderAddr: "10.0.0.1:8001", View: 12, Brokers: brokers},
		&JoinResponse{},
		&Heartbeat{NodeID: "node1", Role: RoleBroker, View: 3, LeaderID: "node1", LeaderAddr: "10.0.0.1:8001", Seq: 99, UnixNano: -5},
		&Produce{Topic: "logs", ProducerID: "prod1", Acks: 1, Records: recs},
		&Produce{Topic: "logs"},
		&ProduceAck{Topic: "logs", FirstSeq: 1, Count: 2, BaseOffset: 100, Duplicates: 1, Code: ErrNotOwner,
			Message: "owned by node2", Redirect: "10.0.0.2:8001"},
		&Consume{Topic: "logs", Offset: 42, MaxRecords: 100, MaxBytes: 1 << 20},
		&Subscribe{Topic: "logs", ConsumerID: "cons1", From: FromTime, Offset: 5, TimeUnixNano: math.MinInt64,
			Analytics: true, Raw: true, WindowSec: 60, IntervalMs: 1000, MaxBatch: 500},
		&Subscribe{Topic: "logs", ConsumerID: "cons2", From: FromOffset, Offset: 7, Group: "g1"},
		&GroupAck{Topic: "logs", Group: "g1", Ranges: []GroupRange{{0, 10}, {20, 25}}},
		&GroupAck{Topic: "logs", Group: "g1", Leave: true},
		&GroupState{Topic: "logs", Group: "g1", Position: 25, Members: 3, Final: true},
		&Records{Topic: "logs", Committed: 10, StartOffset: 2, Records: recs},
		&Records{Topic: "logs", Committed: 10, StartOffset: 2, Records: recs, Gap: GapDamaged},
		&Stats{Topic: "logs", UnixNano: 17, Total: 1000, WindowSec: 60, WindowCount: 600, Rate: 10.5,
			BytesPerSec: math.Inf(1), LastOffset: 999,
			PerProducer: []ProducerCount{{"prod1", 600}, {"prod2", 400}}, Buckets: []uint32{1, 2, 3, math.MaxUint32}},
		&Error{Code: ErrNotLeader, Message: "not the leader", Redirect: "10.0.0.1:8001"},
		&Metadata{Topics: []string{"logs", "", "metrics"}},
		&Metadata{},
		&MetadataResponse{NodeID: "node1", Addr: "10.0.0.1:8001", LeaderID: "node1", LeaderAddr: "10.0.0.1:8001", View: 4,
			Brokers:   brokers,
			Topics:    []TopicInfo{{Name: "logs", Owner: "node2", OwnerAddr: "10.0.0.2:8001", StartOffset: 1, NextOffset: 50, Committed: 49}},
			Consumers: []ConsumerInfo{{ConsumerID: "cons1", Topic: "logs", Offset: 40, Lag: 9}},
			Counters:  map[string]uint64{"frames_dropped": 3, "bad_checksum": 1, "": 0},
			Damage: []DamageInfo{{Topic: "logs", File: "00000000000000000000.log", Kind: "data", From: 10, To: 12,
				Pos: 400, End: 912, Action: "cut out"}},
			Detections: []DetectionInfo{{PeerID: "node2", PeerAddr: "10.0.0.2:8001", Role: "leader", Verdict: "failed",
				SilentMs: 2150, AtUnixMs: 1796000000000}},
			Groups: []GroupInfo{{Group: "g1", Topic: "logs", Position: 30, Members: []GroupMemberInfo{
				{ConsumerID: "cons1", Addr: "10.0.0.5:40000", Leased: 10, Acked: 20}, {ConsumerID: "cons2", Addr: "10.0.0.6:40000"}}},
				{Group: "g2", Topic: "logs"}}},
		&ElectionTrigger{},
	}
}
