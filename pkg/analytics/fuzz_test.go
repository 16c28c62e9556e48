package analytics

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// FuzzWindow reads the input as a script of operations and checks the
// Window's invariants after each snapshot: no panic, bucket, producer and
// window counts agree, memory stays bounded, whatever the times do.
//
// Each 4-byte op: byte 0 selects add or snapshot and the producer (up to 256
// ids, so folding into otherProducers is reached), bytes 1..3 a signed time
// step in milliseconds, scaled so steps span from sub-bucket to many windows.
func FuzzWindow(f *testing.F) {
	f.Add(uint8(10), uint8(10), []byte{0, 0, 1, 0, 1, 0, 2, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint8(1), uint8(1), []byte{7, 0x80, 0, 0, 8, 0x7f, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, windowSec, buckets uint8, script []byte) {
		w := NewWindow(time.Duration(windowSec)*time.Second, int(buckets))
		now := t0
		for len(script) >= 4 {
			op := script[0]
			step := int32(binary.BigEndian.Uint32(script[:4])<<8) >> 8 // signed 24-bit
			script = script[4:]
			now = now.Add(time.Duration(step) * 7 * time.Millisecond)
			if op%5 == 0 {
				checkInvariants(t, w, w.Snapshot(now))
				continue
			}
			w.Add(now, fmt.Sprint(op), int(op))
		}
		checkInvariants(t, w, w.Snapshot(now))
	})
}
