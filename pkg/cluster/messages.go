package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// Message is one broker-to-broker protocol message. Every message carries the
// sender (From) and the sender's view number; the node rejects messages of
// older views. Bodies are encoded with pkg/wire's bounded codec.
type Message interface {
	Type() wire.Type
	AppendTo(dst []byte) []byte
	header() (NodeID, uint64)
	tag() *Tag
}

// Tag names the cluster a message belongs to: the random identity a cluster
// gets when it is first bootstrapped (0: the sender belongs to none yet, or
// its state predates identities). The node stamps it on everything it sends
// and treats a message of another cluster as foreign (see Node.stepForeign):
// two clusters that meet on one LAN never mistake each other's views,
// elections or logs for their own.
type Tag struct{ Cluster uint64 }

func (t *Tag) tag() *Tag { return t }

// Bounds on decoded lists, far above any real cluster, so a hostile body
// cannot make the decoder allocate much.
const (
	maxMembers  = 1024
	maxEpochs   = 4096
	maxTopics   = 1 << 16
	maxRecords  = 1 << 16
	maxAddrSize = 256
	maxTopicLen = defaults.MaxTopicName
)

// Epoch says that records from Start on (up to the next entry) were appended
// in view Epoch. A topic's epoch history is kept in its Log.Meta.
type Epoch struct {
	Epoch uint64
	Start uint64
}

// Election travels around the LCR ring carrying the best candidate so far.
type Election struct {
	Tag
	From      NodeID
	View      uint64
	Candidate NodeID
	// Addr is the sender's address: a restarted broker's token may reach a
	// broker that never saw it in a view yet needs its STATE_EXCHANGE answer
	// (a member of the anchor of a view it is recovering).
	Addr string
	// Forced: the round was asked for by an operator (`logstreamctl
	// election`, SIGUSR1), not by a failure detector. Members that still hear
	// their leader join it at once instead of holding the token.
	Forced bool
	// Skipped lists the members the token's carriers found silent this
	// round (a hop never acknowledged, a round swallowed). The winner does
	// not wait for their STATE_EXCHANGE answers once a majority answered.
	Skipped []NodeID
}

// ElectionAck confirms to the sender that an ELECTION token arrived: a hop
// that is not confirmed within the hop timeout skips the silent successor
// and passes the token on, so a paused or cut-off member costs one hop
// timeout, not a whole election timeout.
type ElectionAck struct {
	Tag
	From NodeID
	View uint64
}

// Coordinator announces the election's winner, which then runs recovery.
type Coordinator struct {
	Tag
	From   NodeID
	View   uint64
	Leader NodeID
}

// StateExchange asks a broker to promise Proposal (a future view number) and
// to report its state. A broker that promises stops acknowledging older views.
type StateExchange struct {
	Tag
	From     NodeID
	View     uint64
	Proposal uint64
	// Addr is the asker's address: the answer must reach it even when the
	// responder never saw it in a view (it restarted with an older one).
	Addr string
}

// TopicState is one topic as a broker reports it in state exchange.
type TopicState struct {
	Topic     string
	Owner     NodeID // owner in the responder's installed view (0: unknown)
	End       uint64 // NextOffset
	Committed uint64
	History   []Epoch
}

// StateExchangeResponse answers StateExchange. OK is false if the broker had
// already promised Promised ≥ Proposal (the candidate then retries higher).
type StateExchangeResponse struct {
	Tag
	From     NodeID
	View     uint64
	Proposal uint64
	OK       bool
	Promised uint64
	Active   uint64 // latest view the broker knows was activated
	Current  View   // the broker's installed view (Number 0: none)
	Topics   []TopicState
}

// TopicAssign is one topic of a new view: its owner and the agreed log
// (End, History) that every member truncates to or fetches up to, from Source.
type TopicAssign struct {
	Topic     string
	Owner     NodeID
	Source    NodeID
	End       uint64
	Committed uint64
	History   []Epoch
}

// ViewInstall installs a new view. View == NewView.Number.
type ViewInstall struct {
	Tag
	From    NodeID
	View    uint64
	NewView View
	Topics  []TopicAssign
}

// Replicate carries records the owner appended (or, with no records, the
// owner's tail and commit index so followers detect a lost batch).
type Replicate struct {
	Tag
	From    NodeID
	View    uint64
	Topic   string
	First   uint64 // offset of Records[0], or the owner's next offset if empty
	Commit  uint64
	Records []record.Record
}

// ReplicateAck tells the owner how far the follower stores the topic.
type ReplicateAck struct {
	Tag
	From  NodeID
	View  uint64
	Topic string
	End   uint64
}

// Fetch asks for records from Offset on (gap repair and catch-up).
type Fetch struct {
	Tag
	From   NodeID
	View   uint64
	Topic  string
	Offset uint64
	Max    uint32
}

// FetchResponse answers Fetch. Start is where the responder's log starts:
// a requester below it cannot get those records anywhere (retention removed
// them, and only committed ones) and skips to Start; Records then begin
// there.
type FetchResponse struct {
	Tag
	From    NodeID
	View    uint64
	Topic   string
	First   uint64
	Start   uint64
	Commit  uint64
	Records []record.Record
}

// Heartbeat is sent by the leader (multicast, IsLeader) and by followers
// (unicast to the leader). Active reports that the sender's view is active;
// Synced that the sender holds the view's agreed log of every topic (a
// follower's heartbeat with Synced is its confirmation of the install).
type Heartbeat struct {
	Tag
	From     NodeID
	View     uint64
	Leader   NodeID
	IsLeader bool
	Active   bool
	Synced   bool
	Addr     string
	// Holds: the sender holds records (some topic log is not empty). When
	// two clusters meet, only a side that holds nothing may give itself up
	// and join the other (see Node.onForeignLeader).
	Holds bool
}

// BrokerJoin asks the leader to add the sender (or re-send it the view).
type BrokerJoin struct {
	Tag
	From       NodeID
	View       uint64
	Promised   uint64 // a member frozen by a promise above View needs a new view
	PromisedTo NodeID // whom it promised: a promise of the leader's own view number to another proposer freezes it too
	Addr       string
}

// BrokerJoinResponse answers BrokerJoin; a non-leader points at the leader.
type BrokerJoinResponse struct {
	Tag
	From     NodeID
	View     uint64
	Leader   Member
	Accepted bool
	// Refused: the leader will not take the asker in: it belongs to another
	// cluster and holds state that joining would throw away.
	Refused bool
}

func (m *Election) Type() wire.Type              { return wire.TypeElection }
func (m *Coordinator) Type() wire.Type           { return wire.TypeCoordinator }
func (m *ElectionAck) Type() wire.Type           { return wire.TypeElectionAck }
func (m *StateExchange) Type() wire.Type         { return wire.TypeStateExchange }
func (m *StateExchangeResponse) Type() wire.Type { return wire.TypeStateExchangeResponse }
func (m *ViewInstall) Type() wire.Type           { return wire.TypeViewInstall }
func (m *Replicate) Type() wire.Type             { return wire.TypeReplicate }
func (m *ReplicateAck) Type() wire.Type          { return wire.TypeReplicateAck }
func (m *Fetch) Type() wire.Type                 { return wire.TypeFetch }
func (m *FetchResponse) Type() wire.Type         { return wire.TypeFetchResponse }
func (m *Heartbeat) Type() wire.Type             { return wire.TypeClusterHeartbeat }
func (m *BrokerJoin) Type() wire.Type            { return wire.TypeBrokerJoin }
func (m *BrokerJoinResponse) Type() wire.Type    { return wire.TypeBrokerJoinResponse }

func (m *Election) header() (NodeID, uint64)              { return m.From, m.View }
func (m *Coordinator) header() (NodeID, uint64)           { return m.From, m.View }
func (m *ElectionAck) header() (NodeID, uint64)           { return m.From, m.View }
func (m *StateExchange) header() (NodeID, uint64)         { return m.From, m.View }
func (m *StateExchangeResponse) header() (NodeID, uint64) { return m.From, m.View }
func (m *ViewInstall) header() (NodeID, uint64)           { return m.From, m.View }
func (m *Replicate) header() (NodeID, uint64)             { return m.From, m.View }
func (m *ReplicateAck) header() (NodeID, uint64)          { return m.From, m.View }
func (m *Fetch) header() (NodeID, uint64)                 { return m.From, m.View }
func (m *FetchResponse) header() (NodeID, uint64)         { return m.From, m.View }
func (m *Heartbeat) header() (NodeID, uint64)             { return m.From, m.View }
func (m *BrokerJoin) header() (NodeID, uint64)            { return m.From, m.View }
func (m *BrokerJoinResponse) header() (NodeID, uint64)    { return m.From, m.View }

func hdr(dst []byte, from NodeID, view uint64, t Tag) *wire.Enc {
	e := &wire.Enc{B: dst}
	e.U64(uint64(from))
	e.U64(view)
	e.U64(t.Cluster)
	return e
}

func (m *Election) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(uint64(m.Candidate))
	e.String(m.Addr)
	e.Bool(m.Forced)
	e.Count(len(m.Skipped))
	for _, id := range m.Skipped {
		e.U64(uint64(id))
	}
	return e.B
}

func (m *ElectionAck) AppendTo(dst []byte) []byte { return hdr(dst, m.From, m.View, m.Tag).B }

func (m *Coordinator) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(uint64(m.Leader))
	return e.B
}

func (m *StateExchange) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(m.Proposal)
	e.String(m.Addr)
	return e.B
}

func (m *StateExchangeResponse) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(m.Proposal)
	e.Bool(m.OK)
	e.U64(m.Promised)
	e.U64(m.Active)
	encView(e, &m.Current)
	e.Count(len(m.Topics))
	for i := range m.Topics {
		t := &m.Topics[i]
		e.String(t.Topic)
		e.U64(uint64(t.Owner))
		e.U64(t.End)
		e.U64(t.Committed)
		encEpochs(e, t.History)
	}
	return e.B
}

func (m *ViewInstall) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	encView(e, &m.NewView)
	e.Count(len(m.Topics))
	for i := range m.Topics {
		t := &m.Topics[i]
		e.String(t.Topic)
		e.U64(uint64(t.Owner))
		e.U64(uint64(t.Source))
		e.U64(t.End)
		e.U64(t.Committed)
		encEpochs(e, t.History)
	}
	return e.B
}

func (m *Replicate) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.String(m.Topic)
	e.U64(m.First)
	e.U64(m.Commit)
	e.Records(m.Records)
	return e.B
}

func (m *ReplicateAck) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.String(m.Topic)
	e.U64(m.End)
	return e.B
}

func (m *Fetch) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.String(m.Topic)
	e.U64(m.Offset)
	e.U32(m.Max)
	return e.B
}

func (m *FetchResponse) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.String(m.Topic)
	e.U64(m.First)
	e.U64(m.Start)
	e.U64(m.Commit)
	e.Records(m.Records)
	return e.B
}

func (m *Heartbeat) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(uint64(m.Leader))
	e.Bool(m.IsLeader)
	e.Bool(m.Active)
	e.Bool(m.Synced)
	e.String(m.Addr)
	e.Bool(m.Holds)
	return e.B
}

func (m *BrokerJoin) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(m.Promised)
	e.U64(uint64(m.PromisedTo))
	e.String(m.Addr)
	return e.B
}

func (m *BrokerJoinResponse) AppendTo(dst []byte) []byte {
	e := hdr(dst, m.From, m.View, m.Tag)
	e.U64(uint64(m.Leader.ID))
	e.String(m.Leader.Addr)
	e.Bool(m.Accepted)
	e.Bool(m.Refused)
	return e.B
}

func encView(e *wire.Enc, v *View) {
	e.U64(v.Number)
	e.U64(uint64(v.Leader))
	e.Count(len(v.Members))
	for _, m := range v.Members {
		e.U64(uint64(m.ID))
		e.String(m.Addr)
	}
	e.Count(len(v.Prev))
	for _, id := range v.Prev {
		e.U64(uint64(id))
	}
}

func encEpochs(e *wire.Enc, h []Epoch) {
	e.Count(len(h))
	for _, ep := range h {
		e.U64(ep.Epoch)
		e.U64(ep.Start)
	}
}

// dec wraps wire.Dec with the package's bounds. spare, if it has room,
// is where records are decoded into (DecodeMessageInto).
type dec struct {
	*wire.Dec
	spare []record.Record
}

func (d dec) fail(format string, args ...any) {
	d.Fail(fmt.Errorf("%w: %s", wire.ErrMalformed, fmt.Sprintf(format, args...)))
}

func (d dec) id() NodeID { return NodeID(d.U64()) }

func (d dec) str(limit int, what string) string {
	s := d.String()
	if len(s) > limit {
		d.fail("%s of %d bytes exceeds %d", what, len(s), limit)
		return ""
	}
	return s
}

func (d dec) count(minElem, limit int, what string) int {
	n := d.Count(minElem)
	if n > limit {
		d.fail("%d %s exceed %d", n, what, limit)
		return 0
	}
	return n
}

func (d dec) view() View {
	var v View
	v.Number = d.U64()
	v.Leader = d.id()
	n := d.count(9, maxMembers, "members")
	for i := 0; i < n && d.Err() == nil; i++ {
		v.Members = append(v.Members, Member{ID: d.id(), Addr: d.str(maxAddrSize, "address")})
	}
	for i := 1; i < len(v.Members); i++ {
		if v.Members[i-1].ID >= v.Members[i].ID {
			d.fail("view members not sorted")
		}
	}
	n = d.count(8, maxMembers, "previous members")
	for i := 0; i < n && d.Err() == nil; i++ {
		v.Prev = append(v.Prev, d.id())
	}
	return v
}

func (d dec) epochs() []Epoch {
	n := d.count(16, maxEpochs, "epochs")
	var h []Epoch
	for i := 0; i < n && d.Err() == nil; i++ {
		h = append(h, Epoch{Epoch: d.U64(), Start: d.U64()})
	}
	if d.Err() == nil && !validHistory(h) {
		d.fail("epoch history not ascending")
	}
	return h
}

func (d dec) records() []record.Record {
	rs := d.RecordsInto(d.spare[:0], wire.MaxListLen)
	if len(rs) > maxRecords {
		d.fail("%d records exceed %d", len(rs), maxRecords)
		return nil
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Offset != rs[i-1].Offset+1 {
			d.fail("records not contiguous")
			return nil
		}
	}
	return rs
}

// Sender returns the sending node of a broker-to-broker message body
// without decoding the rest: every body starts with it (hdr). A broker
// reading its own multicast back (the group loops datagrams to the sender)
// drops them with this before paying for the decode.
func Sender(body []byte) (NodeID, bool) {
	if len(body) < 8 {
		return 0, false
	}
	return NodeID(binary.BigEndian.Uint64(body)), true
}

// DecodeMessage decodes a broker-to-broker message body of type t. Records'
// payloads alias body. Bad input returns an error wrapping wire.ErrMalformed
// or wire.ErrTruncated, never panics, and never allocates more than a small
// multiple of len(body).
func DecodeMessage(t wire.Type, body []byte) (Message, error) {
	return DecodeMessageInto(t, body, nil)
}

// DecodeMessageInto is DecodeMessage decoding a message's records into
// spare's backing array when it has room (a broker reading REPLICATE after
// REPLICATE reuses one slice once the node is done with the last).
func DecodeMessageInto(t wire.Type, body []byte, spare []record.Record) (Message, error) {
	d := dec{Dec: wire.NewDec(body), spare: spare}
	from, view, cluster := d.id(), d.U64(), d.U64()
	var m Message
	switch t {
	case wire.TypeElection:
		el := &Election{From: from, View: view, Candidate: d.id(), Addr: d.str(maxAddrSize, "address"), Forced: d.Bool()}
		for k := d.count(8, maxMembers, "skipped members"); k > 0 && d.Err() == nil; k-- {
			el.Skipped = append(el.Skipped, d.id())
		}
		m = el
	case wire.TypeElectionAck:
		m = &ElectionAck{From: from, View: view}
	case wire.TypeCoordinator:
		m = &Coordinator{From: from, View: view, Leader: d.id()}
	case wire.TypeStateExchange:
		m = &StateExchange{From: from, View: view, Proposal: d.U64(), Addr: d.str(maxAddrSize, "address")}
	case wire.TypeStateExchangeResponse:
		r := &StateExchangeResponse{From: from, View: view}
		r.Proposal, r.OK, r.Promised, r.Active = d.U64(), d.Bool(), d.U64(), d.U64()
		r.Current = d.view()
		n := d.count(1+24+1, maxTopics, "topics")
		for i := 0; i < n && d.Err() == nil; i++ {
			r.Topics = append(r.Topics, TopicState{Topic: d.str(maxTopicLen, "topic"), Owner: d.id(), End: d.U64(), Committed: d.U64(), History: d.epochs()})
		}
		m = r
	case wire.TypeViewInstall:
		r := &ViewInstall{From: from, View: view, NewView: d.view()}
		n := d.count(1+32+1, maxTopics, "topics")
		for i := 0; i < n && d.Err() == nil; i++ {
			r.Topics = append(r.Topics, TopicAssign{Topic: d.str(maxTopicLen, "topic"), Owner: d.id(), Source: d.id(),
				End: d.U64(), Committed: d.U64(), History: d.epochs()})
		}
		if d.Err() == nil && r.NewView.Number != view {
			d.fail("view install number %d in a message of view %d", r.NewView.Number, view)
		}
		m = r
	case wire.TypeReplicate:
		m = &Replicate{From: from, View: view, Topic: d.str(maxTopicLen, "topic"), First: d.U64(), Commit: d.U64(), Records: d.records()}
	case wire.TypeReplicateAck:
		m = &ReplicateAck{From: from, View: view, Topic: d.str(maxTopicLen, "topic"), End: d.U64()}
	case wire.TypeFetch:
		m = &Fetch{From: from, View: view, Topic: d.str(maxTopicLen, "topic"), Offset: d.U64(), Max: d.U32()}
	case wire.TypeFetchResponse:
		r := &FetchResponse{From: from, View: view, Topic: d.str(maxTopicLen, "topic"), First: d.U64(), Start: d.U64(), Commit: d.U64(), Records: d.records()}
		if d.Err() == nil && len(r.Records) > 0 && r.First < r.Start {
			d.fail("records from %d below the log start %d", r.First, r.Start)
		}
		m = r
	case wire.TypeClusterHeartbeat:
		m = &Heartbeat{From: from, View: view, Leader: d.id(), IsLeader: d.Bool(), Active: d.Bool(), Synced: d.Bool(), Addr: d.str(maxAddrSize, "address"), Holds: d.Bool()}
	case wire.TypeBrokerJoin:
		m = &BrokerJoin{From: from, View: view, Promised: d.U64(), PromisedTo: NodeID(d.U64()), Addr: d.str(maxAddrSize, "address")}
	case wire.TypeBrokerJoinResponse:
		m = &BrokerJoinResponse{From: from, View: view, Leader: Member{ID: d.id(), Addr: d.str(maxAddrSize, "address")}, Accepted: d.Bool(), Refused: d.Bool()}
	default:
		return nil, fmt.Errorf("%w: type %d is not a cluster message", wire.ErrMalformed, t)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("cluster: decode %v: %w", t, err)
	}
	if from == 0 {
		return nil, fmt.Errorf("cluster: decode %v: %w: sender id 0", t, wire.ErrMalformed)
	}
	m.tag().Cluster = cluster
	if err := checkRecordsStart(m); err != nil {
		return nil, fmt.Errorf("cluster: decode %v: %w", t, err)
	}
	return m, nil
}

// checkRecordsStart verifies that a batch starts where the message says.
func checkRecordsStart(m Message) error {
	var first uint64
	var rs []record.Record
	switch r := m.(type) {
	case *Replicate:
		first, rs = r.First, r.Records
	case *FetchResponse:
		first, rs = r.First, r.Records
	default:
		return nil
	}
	if len(rs) > 0 && rs[0].Offset != first {
		return fmt.Errorf("%w: first offset %d but records start at %d", wire.ErrMalformed, first, rs[0].Offset)
	}
	return nil
}
