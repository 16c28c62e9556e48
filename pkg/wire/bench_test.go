package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/logstream/logstream/pkg/record"
)

func benchProduce() *Produce {
	m := &Produce{Topic: "logs", ProducerID: "prod1-ab12", Acks: 1, Records: make([]record.Record, 100)}
	for i := range m.Records {
		m.Records[i] = record.Record{Timestamp: 1700000000000000000 + int64(i), Seq: uint64(i + 1), Payload: bytes.Repeat([]byte{'x'}, 100)}
	}
	return m
}

// BenchmarkProduceRoundTrip encodes a 100×100-byte Produce into a frame and
// decodes it back, as producer and broker would.
func BenchmarkProduceRoundTrip(b *testing.B) {
	m := benchProduce()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], Frame{Type: TypeProduce, Corr: 1, Body: m.AppendTo(nil)})
		f, _, err := DecodeFrame(buf, 0)
		if err != nil {
			b.Fatal(err)
		}
		var got Produce
		if err := got.Unmarshal(f.Body); err != nil || len(got.Records) != 100 {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkReader measures stream decoding of pipelined small frames.
func BenchmarkReader(b *testing.B) {
	body := benchProduce().AppendTo(nil)
	var stream []byte
	const perStream = 64
	for i := range perStream {
		stream = AppendFrame(stream, Frame{Type: TypeProduce, Corr: uint64(i), Body: body})
	}
	br := bytes.NewReader(stream)
	b.SetBytes(int64(len(stream) / perStream))
	b.ReportAllocs()
	var r *Reader
	i := 0
	for b.Loop() {
		if i%perStream == 0 {
			br.Reset(stream)
			r = NewReader(br, 0)
		}
		if _, err := r.Next(); err != nil && err != io.EOF {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRecordsUnmarshal decodes a RECORDS frame of 1000 records of 100
// bytes into a reused Records, as a consumer does for every frame.
func BenchmarkRecordsUnmarshal(b *testing.B) {
	recs := make([]record.Record, 1000)
	for i := range recs {
		recs[i] = record.Record{Offset: 1_000_000 + uint64(i), Timestamp: 1_780_000_000_000_000_000 + int64(i), ProducerID: "producer-1234", Seq: uint64(i + 1), Payload: make([]byte, 100)}
	}
	body := Records{Topic: "t", Records: recs}.AppendTo(nil)
	var m Records
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}
