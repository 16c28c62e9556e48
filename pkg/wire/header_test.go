package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func testFrame() Frame {
	return Frame{Type: TypeProduce, Flags: 0x0102, Corr: 0x1122334455667788, Body: []byte("the body of the frame")}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range []Frame{testFrame(), {Type: TypeElectionTrigger}, {Type: 255, Body: make([]byte, 70000)}} {
		b := AppendFrame([]byte("prefix"), f)[len("prefix"):]
		if len(b) != HeaderSize+len(f.Body) {
			t.Fatalf("encoded %d bytes", len(b))
		}
		got, n, err := DecodeFrame(append(b, "next frame"...), 0)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(b) || got.Type != f.Type || got.Flags != f.Flags || got.Corr != f.Corr || !bytes.Equal(got.Body, f.Body) {
			t.Fatalf("got %+v (n=%d), want %+v", got, n, f)
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	b := AppendFrame(nil, testFrame())
	want := []byte{0x4C, 0x53, 1, byte(TypeProduce), 0x01, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 21}
	if !bytes.Equal(b[:18], want) {
		t.Fatalf("header % x, want % x", b[:18], want)
	}
}

func TestDecodeFrameTruncated(t *testing.T) {
	b := AppendFrame(nil, testFrame())
	for i := 0; i < len(b); i++ {
		if _, _, err := DecodeFrame(b[:i], 0); !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
}

// Every single-bit flip anywhere in a frame is detected, and by the right
// check: magic and version by their own errors, a length grown past the
// limit by ErrTooLarge, a shorter or longer length by the checksum or by
// truncation, everything else by the checksum.
func TestCorruptionDetected(t *testing.T) {
	orig := AppendFrame(nil, testFrame())
	for i := range orig {
		for bit := range 8 {
			b := bytes.Clone(orig)
			b[i] ^= 1 << bit
			_, _, err := DecodeFrame(b, 1<<20)
			var want []error
			switch {
			case i < 2:
				want = []error{ErrBadMagic}
			case i == 2:
				want = []error{ErrBadVersion}
			case i >= 14 && i < 18:
				want = []error{ErrTooLarge, ErrTruncated, ErrChecksum}
			default:
				want = []error{ErrChecksum}
			}
			ok := false
			for _, w := range want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("byte %d bit %d: got %v, want one of %v", i, bit, err, want)
			}
		}
	}
}

func TestDecodeFrameTooLarge(t *testing.T) {
	b := AppendFrame(nil, Frame{Type: TypeProduce, Body: make([]byte, 101)})
	if _, _, err := DecodeFrame(b, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("101 bytes with limit 100: %v", err)
	}
	if _, _, err := DecodeFrame(b, 101); err != nil {
		t.Fatalf("101 bytes with limit 101: %v", err)
	}
	// A forged length is refused before the missing bytes matter.
	binary.BigEndian.PutUint32(b[14:], 0xFFFFFFFF)
	if _, _, err := DecodeFrame(b, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("4 GB length: %v", err)
	}
}

func TestFramingErrorsDistinct(t *testing.T) {
	errs := []error{ErrBadMagic, ErrBadVersion, ErrTooLarge, ErrChecksum, ErrTruncated, ErrMalformed}
	for i, a := range errs {
		for j, b := range errs {
			if (i == j) != errors.Is(a, b) {
				t.Fatalf("errors.Is(%v, %v) = %v", a, b, i != j)
			}
		}
	}
}
