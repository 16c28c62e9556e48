package wire

import (
	"testing"

	"github.com/logstream/logstream/pkg/record"
)

// A batch of one producer's records decodes with one producer-id string,
// not one per record (the catch-up read decodes millions of them), and
// records of other producers still get their own id.
func TestRecordsShareProducerID(t *testing.T) {
	recs := make([]record.Record, 500)
	for i := range recs {
		recs[i] = record.Record{Offset: uint64(i), ProducerID: "producer-0123456789", Seq: uint64(i + 1), Payload: []byte("x")}
	}
	recs[250].ProducerID = "another-producer-42"
	body := Records{Topic: "t", Records: recs}.AppendTo(nil)
	var got Records
	allocs := testing.AllocsPerRun(20, func() {
		if err := got.Unmarshal(body); err != nil {
			t.Fatal(err)
		}
	})
	// The record slice, the topic and three distinct id runs (before, at
	// and after record 250): 5; one per record would be over 500.
	if allocs > 8 {
		t.Errorf("decoding 500 records of 2 producers took %.0f allocations, want at most 8", allocs)
	}
	for i, r := range got.Records {
		if r.ProducerID != recs[i].ProducerID || r.Seq != recs[i].Seq || string(r.Payload) != "x" {
			t.Fatalf("record %d: got %+v, want %+v", i, r, recs[i])
		}
	}
}

// RawRecords is Records with the records encoded beforehand: the same bytes.
func TestRawRecordsEncodesAsRecords(t *testing.T) {
	for _, n := range []int{0, 1, 300} {
		recs := make([]record.Record, n)
		var enc []byte
		for i := range recs {
			recs[i] = record.Record{Offset: uint64(1000 + i), Timestamp: int64(i) * 7, ProducerID: "p", Seq: uint64(i + 1), Payload: make([]byte, i%200)}
			enc = recs[i].AppendBinary(enc)
		}
		want := Records{Topic: "topic", Committed: 5000, StartOffset: 17, Records: recs, Gap: GapDamaged}.AppendTo(nil)
		got := RawRecords{Topic: "topic", Committed: 5000, StartOffset: 17, Count: n, Encoded: enc, Gap: GapDamaged}.AppendTo(nil)
		if string(got) != string(want) {
			t.Fatalf("%d records: RawRecords encodes %d bytes unlike Records' %d", n, len(got), len(want))
		}
		var back Records
		if err := back.Unmarshal(got); err != nil || len(back.Records) != n || back.Gap != GapDamaged {
			t.Fatalf("%d records: decoded %d, gap %v, err %v", n, len(back.Records), back.Gap, err)
		}
	}
}

// Unmarshalling batch after batch into one Records reuses its record slice
// (a consumer's catch-up read allocated a 1000-record slice per frame) and
// still decodes each batch whole, also after a shorter or empty one.
func TestRecordsUnmarshalReusesSlice(t *testing.T) {
	batch := func(first, n int) []byte {
		recs := make([]record.Record, n)
		for i := range recs {
			recs[i] = record.Record{Offset: uint64(first + i), ProducerID: "p", Seq: uint64(first + i + 1), Payload: []byte{byte(i)}}
		}
		return Records{Topic: "t", Records: recs}.AppendTo(nil)
	}
	var m Records
	for _, b := range []struct{ first, n int }{{0, 1000}, {1000, 10}, {1010, 0}, {1010, 1000}} {
		if err := m.Unmarshal(batch(b.first, b.n)); err != nil {
			t.Fatal(err)
		}
		if len(m.Records) != b.n {
			t.Fatalf("batch at %d: %d records, want %d", b.first, len(m.Records), b.n)
		}
		for i, r := range m.Records {
			if r.Offset != uint64(b.first+i) || r.Payload[0] != byte(i) {
				t.Fatalf("batch at %d: record %d is %+v", b.first, i, r)
			}
		}
	}
	body := batch(0, 1000)
	allocs := testing.AllocsPerRun(20, func() {
		if err := m.Unmarshal(body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the topic and the producer id strings
		t.Errorf("unmarshalling into a used Records allocated %.0f times, want at most 2", allocs)
	}
}

// Produce.Unmarshal decodes into the records slice it is given when that has
// room (a broker decodes PRODUCE after PRODUCE into one), and a zero Produce
// gets a slice of its own.
func TestProduceUnmarshalReusesRecords(t *testing.T) {
	recs := []record.Record{{ProducerID: "p", Seq: 1, Payload: []byte("a")}, {ProducerID: "p", Seq: 2, Payload: []byte("b")}}
	body := (&Produce{Topic: "t", ProducerID: "p", Acks: 1, Records: recs}).AppendTo(nil)
	var fresh Produce
	if err := fresh.Unmarshal(body); err != nil || len(fresh.Records) != 2 {
		t.Fatalf("Unmarshal: %v, %d records", err, len(fresh.Records))
	}
	spare := make([]record.Record, 0, 8)
	m := Produce{Records: spare}
	if err := m.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 2 || &m.Records[0] != &spare[:1][0] {
		t.Fatal("the records were not decoded into the slice given")
	}
	if m.Records[1].Seq != 2 || string(m.Records[1].Payload) != "b" || m.Topic != "t" {
		t.Fatalf("decoded %+v", m)
	}
}
