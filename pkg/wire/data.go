package wire

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/logstream/logstream/pkg/record"
)

// Data-plane messages: PRODUCE, PRODUCE_ACK, CONSUME, SUBSCRIBE, RECORDS,
// GROUP_ACK, GROUP_STATE.

// Produce carries a batch of records for one topic. A record's ProducerID may
// be empty, meaning Produce.ProducerID; its Offset is ignored (the owner
// assigns offsets). Acks: 0 = no acknowledgement, 1 = ack once committed.
type Produce struct {
	Topic      string
	ProducerID string
	Acks       uint8
	Records    []record.Record
}

func (Produce) Type() Type { return TypeProduce }

func (m Produce) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.String(m.ProducerID)
	e.U8(m.Acks)
	e.Records(m.Records)
	return e.B
}

// Unmarshal decodes b; record payloads alias b. As Records.Unmarshal, it
// decodes into m.Records' backing array when that has room (a zero Produce
// gets a new one).
func (m *Produce) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Produce{Topic: d.String(), ProducerID: d.String(), Acks: d.U8(), Records: d.RecordsInto(m.Records[:0], MaxBatchRecords)}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// ProduceAck reports the fate of a Produce: Count records starting at the
// producer's FirstSeq were stored from BaseOffset on, Duplicates of them were
// already present. A non-zero Code is a failure; Redirect names the broker
// to retry at (ErrNotOwner, ErrNotLeader).
type ProduceAck struct {
	Topic      string
	FirstSeq   uint64
	Count      uint32
	BaseOffset uint64
	Duplicates uint32
	Code       ErrCode
	Message    string
	Redirect   string
}

func (ProduceAck) Type() Type { return TypeProduceAck }

func (m ProduceAck) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.U64(m.FirstSeq)
	e.U32(m.Count)
	e.U64(m.BaseOffset)
	e.U32(m.Duplicates)
	e.U16(uint16(m.Code))
	e.String(m.Message)
	e.String(m.Redirect)
	return e.B
}

func (m *ProduceAck) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := ProduceAck{
		Topic:      d.String(),
		FirstSeq:   d.U64(),
		Count:      d.U32(),
		BaseOffset: d.U64(),
		Duplicates: d.U32(),
		Code:       ErrCode(d.U16()),
		Message:    d.String(),
		Redirect:   d.String(),
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// Consume is a one-shot fetch of committed records from Offset on.
type Consume struct {
	Topic      string
	Offset     uint64
	MaxRecords uint32
	MaxBytes   uint32
}

func (Consume) Type() Type { return TypeConsume }

func (m Consume) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.U64(m.Offset)
	e.U32(m.MaxRecords)
	e.U32(m.MaxBytes)
	return e.B
}

func (m *Consume) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Consume{Topic: d.String(), Offset: d.U64(), MaxRecords: d.U32(), MaxBytes: d.U32()}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// Subscribe starts a stream of Records (unless Raw is false and Analytics
// true, Stats only) for one topic. Offset is used with FromOffset,
// TimeUnixNano with FromTime.
type Subscribe struct {
	Topic        string
	ConsumerID   string
	From         StartFrom
	Offset       uint64
	TimeUnixNano int64
	Analytics    bool
	Raw          bool
	WindowSec    uint32
	IntervalMs   uint32
	MaxBatch     uint32
	// Group, if set, makes the subscription a member of a shared consumer
	// group: the records are split among the group's members (each gets
	// leases of offset ranges to acknowledge with GroupAck), and From and
	// Offset only say where a group nobody reads yet starts, or (with
	// FromOffset) a position the member knows the group acknowledged.
	Group string
}

func (Subscribe) Type() Type { return TypeSubscribe }

func (m Subscribe) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.String(m.ConsumerID)
	e.U8(uint8(m.From))
	e.U64(m.Offset)
	e.I64(m.TimeUnixNano)
	e.Bool(m.Analytics)
	e.Bool(m.Raw)
	e.U32(m.WindowSec)
	e.U32(m.IntervalMs)
	e.U32(m.MaxBatch)
	e.String(m.Group)
	return e.B
}

func (m *Subscribe) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Subscribe{
		Topic:        d.String(),
		ConsumerID:   d.String(),
		From:         StartFrom(d.U8()),
		Offset:       d.U64(),
		TimeUnixNano: d.I64(),
		Analytics:    d.Bool(),
		Raw:          d.Bool(),
		WindowSec:    d.U32(),
		IntervalMs:   d.U32(),
		MaxBatch:     d.U32(),
		Group:        d.String(),
	}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// Records delivers committed records of a topic, in offset order, with the
// topic's commit point and the first offset still retained.
type Records struct {
	Topic       string
	Committed   uint64
	StartOffset uint64
	Records     []record.Record
	// Gap says why Records[0] is not the record after the last one sent on
	// this subscription, when it is not (the consumer reports the offsets
	// it lost with that reason).
	Gap Gap
}

// Gap is why a subscription skipped records.
type Gap uint8

const (
	// GapRetention: retention removed them before the consumer read them
	// (also the value when nothing was skipped).
	GapRetention Gap = 0
	// GapDamaged: they lay in a damaged range of the broker's log, cut out
	// because no intact copy was left.
	GapDamaged Gap = 1
)

func (Records) Type() Type { return TypeRecords }

func (m Records) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.U64(m.Committed)
	e.U64(m.StartOffset)
	e.Records(m.Records)
	e.U8(uint8(m.Gap))
	return e.B
}

// Unmarshal decodes b; record payloads alias b. The records are decoded
// into m.Records' backing array when it has room, so a reader that
// unmarshals batch after batch into one Records allocates nothing per batch
// (and must be done with a batch's records before the next).
func (m *Records) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Records{Topic: d.String(), Committed: d.U64(), StartOffset: d.U64(), Records: d.RecordsInto(m.Records[:0], MaxBatchRecords), Gap: Gap(d.U8())}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// RawRecords is a RECORDS message whose records are already encoded:
// Encoded holds Count records' encodings (record.AppendBinary) back to back,
// as a topic log stores them, so a broker copies stored records into the
// frame without decoding them. It encodes exactly as Records does and is
// decoded as Records.
type RawRecords struct {
	Topic       string
	Committed   uint64
	StartOffset uint64
	Count       int
	Encoded     []byte
	Gap         Gap
}

func (RawRecords) Type() Type { return TypeRecords }

func (m RawRecords) AppendTo(dst []byte) []byte {
	e := Enc{B: slices.Grow(dst, len(m.Topic)+3*binary.MaxVarintLen64+len(m.Encoded)+8)}
	e.String(m.Topic)
	e.U64(m.Committed)
	e.U64(m.StartOffset)
	e.Count(m.Count)
	e.B = append(e.B, m.Encoded...)
	e.U8(uint8(m.Gap))
	return e.B
}

// GroupRange is the offsets [From, To) of a topic.
type GroupRange struct{ From, To uint64 }

// GroupAck is sent by a member of a shared group on its subscription's
// correlation id: it processed the records in Ranges. With Leave it also
// leaves the group (after these acknowledgements): the broker gives its
// unacknowledged records to the other members and answers with a final
// GroupState, then ends the subscription.
type GroupAck struct {
	Topic  string
	Group  string
	Ranges []GroupRange
	Leave  bool
}

// MaxGroupRanges bounds the ranges of one GroupAck.
const MaxGroupRanges = 1024

func (GroupAck) Type() Type { return TypeGroupAck }

func (m GroupAck) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.String(m.Group)
	e.Count(len(m.Ranges))
	for _, r := range m.Ranges {
		e.U64(r.From)
		e.U64(r.To)
	}
	e.Bool(m.Leave)
	return e.B
}

func (m *GroupAck) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := GroupAck{Topic: d.String(), Group: d.String()}
	if n := d.Count(16); n > MaxGroupRanges {
		d.Fail(fmt.Errorf("%w: %d ranges in one GROUP_ACK", ErrMalformed, n))
	} else if n > 0 {
		x.Ranges = make([]GroupRange, n)
		for i := range x.Ranges {
			x.Ranges[i] = GroupRange{From: d.U64(), To: d.U64()}
			if x.Ranges[i].To < x.Ranges[i].From {
				d.Fail(fmt.Errorf("%w: range [%d,%d)", ErrMalformed, x.Ranges[i].From, x.Ranges[i].To))
			}
		}
	}
	x.Leave = d.Bool()
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}

// GroupState tells a member of a shared group the group's position (the
// end of the contiguous acknowledged prefix: the member stores it in the
// offsets topic) and how many members it has. Final answers a GroupAck
// with Leave: the subscription ends after it.
type GroupState struct {
	Topic    string
	Group    string
	Position uint64
	Members  uint32
	Final    bool
}

func (GroupState) Type() Type { return TypeGroupState }

func (m GroupState) AppendTo(dst []byte) []byte {
	e := Enc{B: dst}
	e.String(m.Topic)
	e.String(m.Group)
	e.U64(m.Position)
	e.U32(m.Members)
	e.Bool(m.Final)
	return e.B
}

func (m *GroupState) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := GroupState{Topic: d.String(), Group: d.String(), Position: d.U64(), Members: d.U32(), Final: d.Bool()}
	if err := d.Finish(); err != nil {
		return err
	}
	*m = x
	return nil
}
