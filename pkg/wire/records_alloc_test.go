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
