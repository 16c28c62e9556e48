package wire

import (
	"encoding/binary"
	"slices"

	"github.com/logstream/logstream/pkg/record"
)

// Data-plane messages: PRODUCE, PRODUCE_ACK, CONSUME, SUBSCRIBE, RECORDS.

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

// Unmarshal decodes b; record payloads alias b.
func (m *Produce) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Produce{Topic: d.String(), ProducerID: d.String(), Acks: d.U8(), Records: d.RecordsUpTo(MaxBatchRecords)}
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

// Unmarshal decodes b; record payloads alias b.
func (m *Records) Unmarshal(b []byte) error {
	d := NewDec(b)
	x := Records{Topic: d.String(), Committed: d.U64(), StartOffset: d.U64(), Records: d.RecordsUpTo(MaxBatchRecords), Gap: Gap(d.U8())}
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
