package wire

import "fmt"

// Message is a typed frame body. Every message type implements it with value
// receivers (so Encode accepts X or *X) and has a pointer Unmarshal.
type Message interface {
	Type() Type
	AppendTo(dst []byte) []byte
}

// unmarshaler is the pointer side of a message.
type unmarshaler interface {
	Message
	Unmarshal(b []byte) error
}

// newMessage returns a pointer to a zero message of type t, or nil.
func newMessage(t Type) unmarshaler {
	switch t {
	case TypeJoin:
		return &Join{}
	case TypeJoinResponse:
		return &JoinResponse{}
	case TypeHeartbeat:
		return &Heartbeat{}
	case TypeProduce:
		return &Produce{}
	case TypeProduceAck:
		return &ProduceAck{}
	case TypeConsume:
		return &Consume{}
	case TypeSubscribe:
		return &Subscribe{}
	case TypeRecords:
		return &Records{}
	case TypeStats:
		return &Stats{}
	case TypeError:
		return &Error{}
	case TypeMetadata:
		return &Metadata{}
	case TypeMetadataResponse:
		return &MetadataResponse{}
	case TypeElectionTrigger:
		return &ElectionTrigger{}
	case TypeGroupAck:
		return &GroupAck{}
	case TypeGroupState:
		return &GroupState{}
	}
	return nil
}

// Decode unmarshals a body of type t (1..15) and returns a pointer to the
// message struct, e.g. *Produce for TypeProduce. Unknown types, including the
// cluster's 32..63, are an error wrapping ErrMalformed. Payloads alias body.
func Decode(t Type, body []byte) (Message, error) {
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("%w: no message type %v", ErrMalformed, t)
	}
	if err := m.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("wire: decode %v: %w", t, err)
	}
	return m, nil
}

// Encode frames m with correlation id corr.
func Encode(m Message, corr uint64) Frame {
	return Frame{Type: m.Type(), Corr: corr, Body: m.AppendTo(nil)}
}

// Message decodes the frame's body (see Decode).
func (f Frame) Message() (Message, error) { return Decode(f.Type, f.Body) }
