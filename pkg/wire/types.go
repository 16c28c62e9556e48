package wire

import "strconv"

// Type says what a frame's body holds.
type Type uint8

// Client and discovery messages (1..31) belong to this package; 32..63 are the
// broker-to-broker protocol of package cluster, named here so that logs and
// tools print one vocabulary.
const (
	TypeJoin             Type = 1
	TypeJoinResponse     Type = 2
	TypeHeartbeat        Type = 3
	TypeProduce          Type = 4
	TypeProduceAck       Type = 5
	TypeConsume          Type = 6
	TypeSubscribe        Type = 7
	TypeRecords          Type = 8
	TypeStats            Type = 9
	TypeError            Type = 10
	TypeMetadata         Type = 11
	TypeMetadataResponse Type = 12
	TypeElectionTrigger  Type = 13
	TypeGroupAck         Type = 14
	TypeGroupState       Type = 15

	TypeElection              Type = 32
	TypeCoordinator           Type = 33
	TypeStateExchange         Type = 34
	TypeStateExchangeResponse Type = 35
	TypeViewInstall           Type = 36
	TypeReplicate             Type = 37
	TypeReplicateAck          Type = 38
	TypeFetch                 Type = 39
	TypeFetchResponse         Type = 40
	TypeClusterHeartbeat      Type = 41
	TypeBrokerJoin            Type = 42
	TypeBrokerJoinResponse    Type = 43
	TypeElectionAck           Type = 44
)

// typeNames uses the words the manual's log analysis greps for.
var typeNames = map[Type]string{
	TypeJoin:                  "JOIN",
	TypeJoinResponse:          "JOIN_RESPONSE",
	TypeHeartbeat:             "HEARTBEAT",
	TypeProduce:               "PRODUCE",
	TypeProduceAck:            "PRODUCE_ACK",
	TypeConsume:               "CONSUME",
	TypeSubscribe:             "SUBSCRIBE",
	TypeRecords:               "RECORDS",
	TypeStats:                 "STATS",
	TypeError:                 "ERROR",
	TypeMetadata:              "METADATA",
	TypeMetadataResponse:      "METADATA_RESPONSE",
	TypeElectionTrigger:       "ELECTION_TRIGGER",
	TypeGroupAck:              "GROUP_ACK",
	TypeGroupState:            "GROUP_STATE",
	TypeElection:              "ELECTION",
	TypeCoordinator:           "COORDINATOR",
	TypeStateExchange:         "STATE_EXCHANGE",
	TypeStateExchangeResponse: "STATE_EXCHANGE_RESPONSE",
	TypeViewInstall:           "VIEW_INSTALL",
	TypeReplicate:             "REPLICATE",
	TypeReplicateAck:          "REPLICATE_ACK",
	TypeFetch:                 "FETCH",
	TypeFetchResponse:         "FETCH_RESPONSE",
	TypeClusterHeartbeat:      "CLUSTER_HEARTBEAT",
	TypeBrokerJoin:            "BROKER_JOIN",
	TypeBrokerJoinResponse:    "BROKER_JOIN_RESPONSE",
	TypeElectionAck:           "ELECTION_ACK",
}

// clusterTypeEnd ends the range of broker-to-broker types (32..63).
const clusterTypeEnd Type = 64

// IsCluster reports whether t belongs to the broker-to-broker protocol of
// package cluster (32..63) rather than to clients and discovery: such frames
// are only accepted on broker links and are decoded by cluster.DecodeMessage.
func (t Type) IsCluster() bool { return t >= TypeElection && t < clusterTypeEnd }

// String returns the message name, e.g. "PRODUCE", or "TYPE(n)" if unknown.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// Role is the kind of node speaking.
type Role uint8

// Roles. Zero is deliberately not a role so a forgotten field shows up.
const (
	RoleBroker   Role = 1
	RoleProducer Role = 2
	RoleConsumer Role = 3
	RoleCtl      Role = 4
)

// String returns "broker", "producer", "consumer", "ctl" or "role(n)".
func (r Role) String() string {
	switch r {
	case RoleBroker:
		return "broker"
	case RoleProducer:
		return "producer"
	case RoleConsumer:
		return "consumer"
	case RoleCtl:
		return "ctl"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// StartFrom says where a subscription begins.
type StartFrom uint8

// Subscription starting points.
const (
	FromBeginning StartFrom = 0
	FromLatest    StartFrom = 1
	FromOffset    StartFrom = 2
	FromTime      StartFrom = 3
)

// String returns "beginning", "latest", "offset", "time" or "from(n)".
func (s StartFrom) String() string {
	switch s {
	case FromBeginning:
		return "beginning"
	case FromLatest:
		return "latest"
	case FromOffset:
		return "offset"
	case FromTime:
		return "time"
	}
	return "from(" + strconv.Itoa(int(s)) + ")"
}
