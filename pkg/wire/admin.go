package wire

import (
	"fmt"
	"slices"
	"strings"
)

// Status and administration messages: STATS, ERROR, METADATA,
// METADATA_RESPONSE.

// ProducerCount is one producer's share of a topic's traffic.
type ProducerCount struct {
	ProducerID string
	Count      uint64
}

// Stats is a consumer's analytics snapshot for one topic. Buckets holds
// per-second counts of the window, oldest first.
type Stats struct {
	Topic       string
	UnixNano    int64
	Total       uint64
	WindowSec   uint32
	WindowCount uint64
	Rate        float64
	BytesPerSec float64
	LastOffset  uint64
	PerProducer []ProducerCount
	Buckets     []uint32
}

func (Stats) Type() Type { return TypeStats }

func (m Stats) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.I64(m.UnixNano)
	e.U64(m.Total)
	e.U32(m.WindowSec)
	e.U64(m.WindowCount)
	e.F64(m.Rate)
	e.F64(m.BytesPerSec)
	e.U64(m.LastOffset)
	e.Count(len(m.PerProducer))
	for _, p := range m.PerProducer {
		e.String(p.ProducerID)
		e.U64(p.Count)
	}
	e.Count(len(m.Buckets))
	for _, v := range m.Buckets {
		e.U32(v)
	}
	return e.B
}

func (m *Stats) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Stats{
		Topic:       d.String(),
		UnixNano:    d.I64(),
		Total:       d.U64(),
		WindowSec:   d.U32(),
		WindowCount: d.U64(),
		Rate:        d.F64(),
		BytesPerSec: d.F64(),
		LastOffset:  d.U64(),
	}
	if n := d.Count(1 + 8); n > 0 {
		x.PerProducer = make([]ProducerCount, n)
		for i := range x.PerProducer {
			x.PerProducer[i] = ProducerCount{ProducerID: d.String(), Count: d.U64()}
		}
	}
	if n := d.Count(4); n > 0 {
		x.Buckets = make([]uint32, n)
		for i := range x.Buckets {
			x.Buckets[i] = d.U32()
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// Error is a failed request's reply. *Error is also a Go error that unwraps
// to its Code, so errors.Is(err, wire.ErrNotLeader) matches it.
type Error struct {
	Code     ErrCode
	Message  string
	Redirect string // address to retry at, for ErrNotOwner and ErrNotLeader
}

func (Error) Type() Type { return TypeError }

func (m Error) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.U16(uint16(m.Code))
	e.String(m.Message)
	e.String(m.Redirect)
	return e.B
}

func (m *Error) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Error{Code: ErrCode(d.U16()), Message: d.String(), Redirect: d.String()}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// Error formats the code, message and redirect, e.g.
// "NOT_LEADER: ask the leader (redirect 10.0.0.1:8001)".
func (m *Error) Error() string {
	var s strings.Builder
	s.WriteString(m.Code.String())
	if m.Message != "" {
		s.WriteString(": ")
		s.WriteString(m.Message)
	}
	if m.Redirect != "" {
		fmt.Fprintf(&s, " (redirect %s)", m.Redirect)
	}
	return s.String()
}

// Unwrap returns the code (nil for ErrNone).
func (m *Error) Unwrap() error { return m.Code.Err() }

// Metadata asks for the cluster's view, topics and consumers; Topics limits
// the answer to those topics (empty = all).
type Metadata struct {
	Topics []string
}

func (Metadata) Type() Type { return TypeMetadata }

func (m Metadata) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.Count(len(m.Topics))
	for _, t := range m.Topics {
		e.String(t)
	}
	return e.B
}

func (m *Metadata) Unmarshal(b []byte) error {
	d := NewDec(b)
	var x Metadata
	if n := d.Count(1); n > 0 {
		x.Topics = make([]string, n)
		for i := range x.Topics {
			x.Topics[i] = d.String()
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// TopicInfo describes one topic's placement and log bounds.
type TopicInfo struct {
	Name        string
	Owner       string
	OwnerAddr   string
	StartOffset uint64
	NextOffset  uint64
	Committed   uint64
}

// DamageInfo is one damaged range of a topic's stored log (topiclog.Damage):
// records [From, To) of File (bytes [Pos, End)) could not be read and are
// skipped; Kind is "data", "index" (nothing lost) or "tail".
type DamageInfo struct {
	Topic  string
	File   string
	Kind   string
	From   uint64
	To     uint64
	Pos    uint64
	End    uint64
	Action string
}

// DetectionInfo is one failure verdict of the answering broker
// (cluster.Detection): the peer (id and address), the part it played
// ("leader", "owner", "member"), the verdict ("failed", "timed out"), the
// silence that led to it and when it was given (Unix milliseconds).
type DetectionInfo struct {
	PeerID   string
	PeerAddr string
	Role     string
	Verdict  string
	SilentMs uint64
	AtUnixMs uint64
}

// ConsumerInfo describes one registered consumer's progress.
type ConsumerInfo struct {
	ConsumerID string
	Topic      string
	Offset     uint64
	Lag        uint64
}

// MetadataResponse answers Metadata. Counters are named monotonic counters
// (e.g. dropped frames); they are encoded in key order.
type MetadataResponse struct {
	NodeID     string
	Addr       string
	LeaderID   string
	LeaderAddr string
	View       uint64
	Brokers    []BrokerInfo
	Topics     []TopicInfo
	Consumers  []ConsumerInfo
	Counters   map[string]uint64
	// Damage lists damaged log ranges found by the broker (at most a few
	// per topic; the damaged_ranges counter counts them all).
	Damage  []DamageInfo
	Cluster string // the cluster's identity, 16 hex digits ("none" before the first view)
	// Detections are the answering broker's latest failure verdicts.
	Detections []DetectionInfo
	// Name is the answering broker's NODE_NAME. The cluster protocol
	// carries only ids and addresses, so this is how logstreamctl shows
	// every member by name.
	Name string
	// Groups lists the shared consumer groups this broker coordinates (it
	// owns their topics) with their live members.
	Groups []GroupInfo
}

// GroupInfo is a shared consumer group on one topic as its coordinator (the
// topic's owner) sees it.
type GroupInfo struct {
	Group    string
	Topic    string
	Position uint64 // end of the contiguous acknowledged prefix
	Members  []GroupMemberInfo
}

// GroupMemberInfo is one live member of a shared group.
type GroupMemberInfo struct {
	ConsumerID string
	Addr       string
	Leased     uint64 // records it holds unacknowledged
	Acked      uint64 // records it acknowledged since it joined
}

func (MetadataResponse) Type() Type { return TypeMetadataResponse }

func (m MetadataResponse) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.NodeID)
	e.String(m.Addr)
	e.String(m.LeaderID)
	e.String(m.LeaderAddr)
	e.U64(m.View)
	e.brokers(m.Brokers)
	e.Count(len(m.Topics))
	for _, t := range m.Topics {
		e.String(t.Name)
		e.String(t.Owner)
		e.String(t.OwnerAddr)
		e.U64(t.StartOffset)
		e.U64(t.NextOffset)
		e.U64(t.Committed)
	}
	e.Count(len(m.Consumers))
	for _, c := range m.Consumers {
		e.String(c.ConsumerID)
		e.String(c.Topic)
		e.U64(c.Offset)
		e.U64(c.Lag)
	}
	// Sorted keys make the encoding deterministic and let the decoder refuse
	// duplicates with one comparison.
	keys := make([]string, 0, len(m.Counters))
	for k := range m.Counters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.Count(len(keys))
	for _, k := range keys {
		e.String(k)
		e.U64(m.Counters[k])
	}
	e.Count(len(m.Damage))
	for _, d := range m.Damage {
		e.String(d.Topic)
		e.String(d.File)
		e.String(d.Kind)
		e.U64(d.From)
		e.U64(d.To)
		e.U64(d.Pos)
		e.U64(d.End)
		e.String(d.Action)
	}
	e.String(m.Cluster)
	e.String(m.Name)
	e.Count(len(m.Detections))
	for _, x := range m.Detections {
		e.String(x.PeerID)
		e.String(x.PeerAddr)
		e.String(x.Role)
		e.String(x.Verdict)
		e.U64(x.SilentMs)
		e.U64(x.AtUnixMs)
	}
	e.Count(len(m.Groups))
	for _, g := range m.Groups {
		e.String(g.Group)
		e.String(g.Topic)
		e.U64(g.Position)
		e.Count(len(g.Members))
		for _, mb := range g.Members {
			e.String(mb.ConsumerID)
			e.String(mb.Addr)
			e.U64(mb.Leased)
			e.U64(mb.Acked)
		}
	}
	return e.B
}

func (m *MetadataResponse) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := MetadataResponse{
		NodeID:     d.String(),
		Addr:       d.String(),
		LeaderID:   d.String(),
		LeaderAddr: d.String(),
		View:       d.U64(),
		Brokers:    d.brokers(),
	}
	if n := d.Count(3 + 3*8); n > 0 {
		x.Topics = make([]TopicInfo, n)
		for i := range x.Topics {
			x.Topics[i] = TopicInfo{
				Name: d.String(), Owner: d.String(), OwnerAddr: d.String(),
				StartOffset: d.U64(), NextOffset: d.U64(), Committed: d.U64(),
			}
		}
	}
	if n := d.Count(2 + 2*8); n > 0 {
		x.Consumers = make([]ConsumerInfo, n)
		for i := range x.Consumers {
			x.Consumers[i] = ConsumerInfo{ConsumerID: d.String(), Topic: d.String(), Offset: d.U64(), Lag: d.U64()}
		}
	}
	if n := d.Count(1 + 8); n > 0 {
		x.Counters = make(map[string]uint64, n)
		prev := ""
		for i := 0; i < n && d.Err() == nil; i++ {
			k, v := d.String(), d.U64()
			if i > 0 && k <= prev {
				d.Fail(fmt.Errorf("%w: counter %q out of order or repeated", ErrMalformed, k))
			}
			x.Counters[k], prev = v, k
		}
	}
	if n := d.Count(4 + 4*8); n > 0 {
		x.Damage = make([]DamageInfo, n)
		for i := range x.Damage {
			x.Damage[i] = DamageInfo{Topic: d.String(), File: d.String(), Kind: d.String(),
				From: d.U64(), To: d.U64(), Pos: d.U64(), End: d.U64(), Action: d.String()}
		}
	}
	x.Cluster = d.String()
	x.Name = d.String()
	if n := d.Count(4 + 2*8); n > 0 {
		x.Detections = make([]DetectionInfo, n)
		for i := range x.Detections {
			x.Detections[i] = DetectionInfo{PeerID: d.String(), PeerAddr: d.String(), Role: d.String(), Verdict: d.String(),
				SilentMs: d.U64(), AtUnixMs: d.U64()}
		}
	}
	if n := d.Count(2 + 8 + 1); n > 0 {
		x.Groups = make([]GroupInfo, n)
		for i := range x.Groups {
			g := GroupInfo{Group: d.String(), Topic: d.String(), Position: d.U64()}
			if k := d.Count(2 + 2*8); k > 0 {
				g.Members = make([]GroupMemberInfo, k)
				for j := range g.Members {
					g.Members[j] = GroupMemberInfo{ConsumerID: d.String(), Addr: d.String(), Leased: d.U64(), Acked: d.U64()}
				}
			}
			x.Groups[i] = g
		}
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}
