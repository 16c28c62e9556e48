package roles

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/logstream/logstream/pkg/record"
)

// jsonRecords writes records as JSON lines, byte for byte what
// encoding/json makes of jsonRecord (SetEscapeHTML(false), then a newline),
// without reflection or an allocation per record: a catch-up read with
// -format json spent most of its time in encoding/json.
// TestJSONRecordMatchesEncodingJSON holds the two to the same bytes.
type jsonRecords struct {
	sec    int64  // the second whose timestamp text is in prefix
	prefix []byte // "2006-01-02T15:04:05" of sec; nil: none yet
	// The text before the offset (topic included) and between the
	// timestamp and the sequence number (producer id included), kept for
	// the topic and producer id they were made of: a batch is nearly always
	// one producer's, so they are escaped once per batch, not per record.
	topic, producer string
	head, mid       []byte
}

// append appends the JSON line of one record.
func (j *jsonRecords) append(dst []byte, topic string, r *record.Record) []byte {
	if j.head == nil || topic != j.topic {
		j.topic = topic
		j.head = append(appendJSONString(append(j.head[:0], `{"type":"record","topic":`...), topic), `,"offset":`...)
	}
	if j.mid == nil || r.ProducerID != j.producer {
		j.producer = r.ProducerID
		j.mid = append(appendJSONString(append(j.mid[:0], `","producer":`...), r.ProducerID), `,"seq":`...)
	}
	dst = append(dst, j.head...)
	dst = strconv.AppendUint(dst, r.Offset, 10)
	dst = append(dst, `,"timestamp":"`...)
	dst = j.appendTime(dst, r.Timestamp) // no byte of it needs escaping
	dst = append(dst, j.mid...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	switch {
	case len(r.Payload) == 0: // omitempty
	case plainASCII(r.Payload): // the common case, checked eight bytes at a time
		dst = append(dst, `,"payload":"`...)
		dst = append(dst, r.Payload...)
		dst = append(dst, '"')
	case utf8.Valid(r.Payload):
		dst = append(dst, `,"payload":`...)
		dst = appendJSONString(dst, r.Payload)
	default:
		dst = append(dst, `,"payload_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Payload)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}

// plainASCII reports whether every byte of b is one a JSON string holds as
// it is (see jsonPlain), eight bytes at a time: a word has no such byte
// when none has its top bit set, none is below 0x20 and none is '"' or
// '\\' (the has-less-than and has-zero-byte bit tricks, exact for "any").
func plainASCII(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		q, s := x^(ones*'"'), x^(ones*'\\')
		if (x|(x-ones*0x20)|(q-ones)&^q|(s-ones)&^s)&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if !jsonPlain[c] {
			return false
		}
	}
	return true
}

// appendTime appends time.Unix(0, ns).UTC().Format(time.RFC3339Nano). The
// records of a batch mostly share their second, whose text is kept.
func (j *jsonRecords) appendTime(dst []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	if j.prefix == nil || sec != j.sec {
		t := time.Unix(sec, 0).UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
		}
		j.sec, j.prefix = sec, t.AppendFormat(j.prefix[:0], "2006-01-02T15:04:05")
	}
	dst = append(dst, j.prefix...)
	if frac != 0 {
		var d [10]byte
		d[0] = '.'
		for i, f := 9, frac; i > 0; i-- {
			d[i] = byte('0' + f%10)
			f /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		dst = append(dst, d[:n]...)
	}
	return append(dst, 'Z')
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the bytes a JSON string holds as they are: printable
// ASCII but for the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string the way encoding/json writes
// it without HTML escaping: `"` and `\` escaped, control characters as
// \b \f \n \r \t or \u00XX, bytes that are not UTF-8 as \ufffd, U+2028 and
// U+2029 escaped (JSONP), everything else as is.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	done := 0 // s[:done] is in dst
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[done:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, `\b`...)
			case '\f':
				dst = append(dst, `\f`...)
			case '\n':
				dst = append(dst, `\n`...)
			case '\r':
				dst = append(dst, `\r`...)
			case '\t':
				dst = append(dst, `\t`...)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		// At most 4 bytes converted: no allocation for a []byte.
		rn, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case rn == utf8.RuneError && size == 1:
			dst = append(dst, s[done:i]...)
			dst = append(dst, `\ufffd`...)
		case rn == '\u2028' || rn == '\u2029':
			dst = append(dst, s[done:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[rn&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	dst = append(dst, s[done:]...)
	return append(dst, '"')
}
