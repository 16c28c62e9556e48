package wire

// Discovery and liveness messages: JOIN, JOIN_RESPONSE, HEARTBEAT,
// ELECTION_TRIGGER.

// Join is broadcast (or sent to a known leader) by any node looking for the
// cluster. Nonce is echoed in the JoinResponse to match answers to requests.
type Join struct {
	Role   Role
	NodeID string
	Addr   string
	Nonce  uint64
}

func (Join) Type() Type { return TypeJoin }

func (m Join) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.U8(uint8(m.Role))
	e.String(m.NodeID)
	e.String(m.Addr)
	e.U64(m.Nonce)
	return e.B
}

func (m *Join) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Join{Role: Role(d.U8()), NodeID: d.String(), Addr: d.String(), Nonce: d.U64()}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// BrokerInfo describes one member of the view.
type BrokerInfo struct {
	ID    string
	Addr  string
	State string
}

const minBrokerInfo = 3 // three empty strings

func (e *Enc) brokers(bs []BrokerInfo) {
	e.Count(len(bs))
	for _, b := range bs {
		e.String(b.ID)
		e.String(b.Addr)
		e.String(b.State)
	}
}

func (d *Dec) brokers() []BrokerInfo {
	n := d.Count(minBrokerInfo)
	if n == 0 {
		return nil
	}
	bs := make([]BrokerInfo, n)
	for i := range bs {
		bs[i] = BrokerInfo{ID: d.String(), Addr: d.String(), State: d.String()}
	}
	return bs
}

// JoinResponse answers a Join: who answered, who leads, and the current view.
type JoinResponse struct {
	Nonce         uint64
	ResponderID   string
	ResponderAddr string
	IsLeader      bool
	LeaderID      string
	LeaderAddr    string
	View          uint64
	Brokers       []BrokerInfo
	Cluster       string // the responder's cluster identity ("none": it has none yet)
}

func (JoinResponse) Type() Type { return TypeJoinResponse }

func (m JoinResponse) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.U64(m.Nonce)
	e.String(m.ResponderID)
	e.String(m.ResponderAddr)
	e.Bool(m.IsLeader)
	e.String(m.LeaderID)
	e.String(m.LeaderAddr)
	e.U64(m.View)
	e.brokers(m.Brokers)
	e.String(m.Cluster)
	return e.B
}

func (m *JoinResponse) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := JoinResponse{
		Nonce:         d.U64(),
		ResponderID:   d.String(),
		ResponderAddr: d.String(),
		IsLeader:      d.Bool(),
		LeaderID:      d.String(),
		LeaderAddr:    d.String(),
		View:          d.U64(),
		Brokers:       d.brokers(),
		Cluster:       d.String(),
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// Heartbeat is the periodic liveness message of brokers and clients.
type Heartbeat struct {
	NodeID     string
	Role       Role
	View       uint64
	LeaderID   string
	LeaderAddr string
	Seq        uint64
	UnixNano   int64
}

func (Heartbeat) Type() Type { return TypeHeartbeat }

func (m Heartbeat) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.NodeID)
	e.U8(uint8(m.Role))
	e.U64(m.View)
	e.String(m.LeaderID)
	e.String(m.LeaderAddr)
	e.U64(m.Seq)
	e.I64(m.UnixNano)
	return e.B
}

func (m *Heartbeat) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Heartbeat{
		NodeID:     d.String(),
		Role:       Role(d.U8()),
		View:       d.U64(),
		LeaderID:   d.String(),
		LeaderAddr: d.String(),
		Seq:        d.U64(),
		UnixNano:   d.I64(),
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// ElectionTrigger asks a broker to start an election (logstreamctl); it has
// an empty body.
type ElectionTrigger struct{}

func (ElectionTrigger) Type() Type                 { return TypeElectionTrigger }
func (ElectionTrigger) AppendTo(dst []byte) []byte { return dst }

func (m *ElectionTrigger) Unmarshal(b []byte) error { return NewDec(b).Finish() }
