package wire

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzMax keeps fuzz inputs' frames small so the engine explores headers.
const fuzzMax = 1 << 16

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFrame(b, fuzzMax)
		if err != nil {
			if fr.Body != nil || n != 0 {
				t.Fatalf("error %v with frame %+v n=%d", err, fr, n)
			}
			return
		}
		if n < HeaderSize || n > len(b) || len(fr.Body) != n-HeaderSize {
			t.Fatalf("n=%d for %d bytes, body %d", n, len(b), len(fr.Body))
		}
		// The frame encoding is canonical: re-encoding gives the same bytes.
		if again := AppendFrame(nil, fr); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs:\n% x\n% x", again, b[:n])
		}
	})
}

func FuzzReader(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The stream Reader must agree with DecodeFrame applied repeatedly.
		r := NewReader(bytes.NewReader(b), fuzzMax)
		rest := b
		for i := 0; i <= len(b)/HeaderSize; i++ {
			got, err := r.Next()
			if len(rest) == 0 {
				if err != io.EOF {
					t.Fatalf("frame %d at end of input: %v", i, err)
				}
				return
			}
			want, n, werr := DecodeFrame(rest, fuzzMax)
			if (err == nil) != (werr == nil) {
				t.Fatalf("frame %d: Reader says %v, DecodeFrame says %v", i, err, werr)
			}
			if err != nil {
				if _, again := r.Next(); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				return
			}
			if !sameFrame(got, want) {
				t.Fatalf("frame %d differs", i)
			}
			rest = rest[n:]
		}
		t.Fatalf("more frames than the input can hold")
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range samples() {
		f.Add(uint8(m.Type()), m.AppendTo(nil))
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(TypeProduce), []byte{0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		m, err := Decode(Type(typ), b)
		if err != nil {
			if m != nil {
				t.Fatalf("message %+v with error %v", m, err)
			}
			return
		}
		if m.Type() != Type(typ) {
			t.Fatalf("decoded %v as %v", Type(typ), m.Type())
		}
		// Byte comparisons rather than DeepEqual: a NaN float is not equal to
		// itself, and an input may use non-minimal varints.
		enc := m.AppendTo(nil)
		m2, err := Decode(Type(typ), enc)
		if err != nil {
			t.Fatalf("re-encoded %v does not decode: %v", Type(typ), err)
		}
		if enc2 := m2.AppendTo(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("%v does not round-trip", Type(typ))
		}
	})
}

// frameSeeds are well-formed streams and datagrams plus classic bad ones.
func frameSeeds() [][]byte {
	var seeds [][]byte
	var stream []byte
	for i, m := range samples() {
		b := AppendFrame(nil, Encode(m, uint64(i)))
		if i < 4 {
			seeds = append(seeds, b)
		}
		stream = append(stream, b...)
	}
	seeds = append(seeds, stream)
	bad := AppendFrame(nil, testFrame())
	bad[len(bad)-1] ^= 1
	huge := AppendFrame(nil, testFrame())
	copy(huge[14:], []byte{0xff, 0xff, 0xff, 0xff})
	return append(seeds, bad, huge, []byte{}, []byte("LS"))
}

var writeCorpus = flag.Bool("wire.writecorpus", false, "rewrite testdata/fuzz seed files")

// TestWriteSeedCorpus regenerates the checked-in seed corpus from the seeds
// above: go test -run WriteSeedCorpus -wire.writecorpus ./pkg/wire
func TestWriteSeedCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("use -wire.writecorpus to rewrite testdata/fuzz")
	}
	write := func(fuzz, name string, lines ...string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, l := range lines {
			body += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range frameSeeds() {
		write("FuzzDecodeFrame", fmt.Sprintf("seed-%02d", i), fmt.Sprintf("[]byte(%q)", s))
		write("FuzzReader", fmt.Sprintf("seed-%02d", i), fmt.Sprintf("[]byte(%q)", s))
	}
	for i, m := range samples() {
		name := fmt.Sprintf("seed-%02d-%s", i, m.Type())
		write("FuzzDecodeMessage", name, fmt.Sprintf("byte(%q)", byte(m.Type())), fmt.Sprintf("[]byte(%q)", m.AppendTo(nil)))
	}
}

func TestFuzzSeedsValid(t *testing.T) {
	for _, m := range samples() {
		if _, err := Decode(m.Type(), m.AppendTo(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := DecodeFrame(frameSeeds()[0], 0); err != nil {
		t.Fatal(err)
	}
}
