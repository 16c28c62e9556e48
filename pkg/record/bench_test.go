package record

import "testing"

// benchRecord is a record as a broker sees it under load: a current
// timestamp (a nine-byte varint), an offset and a sequence number in the
// millions, a 100-byte payload.
func benchRecord() Record {
	return Record{Offset: 3_000_000, Timestamp: 1_780_000_000_000_000_000, ProducerID: "bench-1a2b3c4d", Seq: 2_999_000, Payload: make([]byte, 100)}
}

func BenchmarkAppendBinary(b *testing.B) {
	r := benchRecord()
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(r.AppendBinary(nil))))
	for i := 0; i < b.N; i++ {
		if len(buf) > 4096-r.Size() {
			buf = buf[:0]
		}
		buf = r.AppendBinary(buf)
	}
}

func BenchmarkDecodeInto(b *testing.B) {
	r := benchRecord()
	enc := r.AppendBinary(nil)
	b.SetBytes(int64(len(enc)))
	var got Record
	for i := 0; i < b.N; i++ {
		if _, err := DecodeInto(&got, enc, r.ProducerID); err != nil {
			b.Fatal(err)
		}
	}
}
