package roles

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logstream/logstream/pkg/record"
)

// jsonRecordStdlib is how the printer wrote a record before
// jsonRecords: encoding/json on jsonRecord.
func jsonRecordStdlib(topic string, r *record.Record) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	jr := jsonRecord{Type: "record", Topic: topic, Offset: r.Offset, Producer: r.ProducerID, Seq: r.Seq,
		Timestamp: time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano)}
	if utf8.Valid(r.Payload) {
		jr.Payload = string(r.Payload)
	} else {
		jr.PayloadBase64 = r.Payload
	}
	enc.Encode(&jr)
	return b.Bytes()
}

// The hand-written JSON of a record is byte for byte encoding/json's: every
// single byte and every escape-worthy rune in payload, topic and producer
// id, invalid UTF-8 (base64 payload, \ufffd in strings), empty payloads,
// extreme numbers and timestamps, and seeded random bytes.
func TestJSONRecordMatchesEncodingJSON(t *testing.T) {
	var samples [][]byte
	for c := 0; c < 256; c++ {
		samples = append(samples, []byte{byte(c)}, []byte{'a', byte(c), 'z'})
		// Every byte at every place of a word and of a tail (plainASCII
		// checks eight bytes at a time).
		for at := 0; at < 19; at++ {
			b := []byte("0123456789abcdefghi")
			b[at] = byte(c)
			samples = append(samples, b)
		}
	}
	for _, s := range []string{"", "plain log line", "quote\" back\\slash", "tab\tnl\ncr\r\b\f\x00\x1f\x7f",
		"<html>&amp;</html>", "é ü 日本 🙂", "\u2028\u2029 sep", "bad \xff\xfe utf8", "\xed\xa0\x80 surrogate", "trunc \xe6\x97"} {
		samples = append(samples, []byte(s))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			if rng.IntN(3) == 0 {
				b[j] = byte(rng.IntN(256))
			} else {
				b[j] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		samples = append(samples, b)
	}
	stamps := []int64{0, 1, -1, 1700000000123456789, 1700000000000000000, 1700000000100000000, 1700000000999999999,
		-1e9 - 5, -62135596800, -9e18, math.MaxInt64, math.MinInt64, 1700000000500000000}
	var buf []byte
	var j jsonRecords
	for i, p := range samples {
		r := record.Record{Offset: uint64(i) * 1e15, Timestamp: stamps[i%len(stamps)], ProducerID: string(samples[(i*7)%len(samples)]),
			Seq: math.MaxUint64 - uint64(i), Payload: p}
		topic := string(samples[(i*13)%len(samples)])
		buf = j.append(buf[:0], topic, &r)
		if want := jsonRecordStdlib(topic, &r); !bytes.Equal(buf, want) {
			t.Fatalf("record %d (payload %q, producer %q, topic %q):\n got %s\nwant %s", i, p, r.ProducerID, topic, buf, want)
		}
	}
}

// BenchmarkJSONRecords writes 1000 records of 100 ASCII bytes of one
// producer, a catch-up read's frame, as JSON lines.
func BenchmarkJSONRecords(b *testing.B) {
	recs := make([]record.Record, 1000)
	for i := range recs {
		recs[i] = record.Record{Offset: 1_000_000 + uint64(i), Timestamp: 1_780_000_000_000_000_000 + int64(i)*1000, ProducerID: "producer-1234",
			Seq: uint64(i + 1), Payload: bytes.Repeat([]byte("log line "), 12)[:100]}
	}
	var j jsonRecords
	var buf []byte
	for b.Loop() {
		for i := range recs {
			buf = j.append(buf[:0], "logs", &recs[i])
		}
	}
}
