package wire

import (
	"bytes"
	"errors"
	"testing"
)

var testKey, _ = NewKey([]byte("0123456789abcdef-test-key"))

func TestNewKeyRefusesWeakAndHugeSecrets(t *testing.T) {
	if _, err := NewKey([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	if _, err := NewKey(make([]byte, MaxKeyLen+1)); err == nil {
		t.Fatal("an oversized key was accepted")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := testKey.NewSealer(42)
	o := testKey.NewOpener()
	for i, body := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("ab"), 5000)} {
		in := Frame{Type: TypeProduce, Flags: 0x10, Corr: uint64(i) + 7, Body: body}
		b := s.AppendFrame(nil, in)
		f, n, err := DecodeFrame(b, 0)
		if err != nil || n != len(b) {
			t.Fatalf("sealed frame does not decode: %v", err)
		}
		got, st, err := o.Open(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != in.Type || got.Corr != in.Corr || got.Flags != in.Flags || !bytes.Equal(got.Body, in.Body) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, in)
		}
		if st.Sender != 42 || st.Seq != uint64(i)+1 {
			t.Fatalf("stamp %+v, want sender 42 seq %d", st, i+1)
		}
	}
}

// Any change to a sealed frame (with the CRC fixed up, as a forger would)
// fails the tag.
func TestSealDetectsEveryTamperedByte(t *testing.T) {
	b := testKey.NewSealer(1).AppendFrame(nil, Frame{Type: TypeHeartbeat, Corr: 3, Body: []byte("hello, world")})
	o := testKey.NewOpener()
	for i := 0; i < len(b); i++ {
		if i >= crcOffset && i < HeaderSize {
			continue // the CRC itself
		}
		if i == 4 || i == 5 {
			continue // flags: handled below, clearing the seal bit changes the error
		}
		mod := append([]byte(nil), b...)
		mod[i] ^= 0x01
		f, err := refixCRC(mod)
		if err != nil {
			continue // now a framing error (magic, version, length): refused earlier
		}
		if _, _, err := o.Open(f); !errors.Is(err, ErrAuth) {
			t.Fatalf("byte %d flipped: Open said %v", i, err)
		}
	}
	mod := append([]byte(nil), b...)
	mod[5] ^= 0x02 // another flag bit
	f, _ := refixCRC(mod)
	if _, _, err := o.Open(f); !errors.Is(err, ErrBadTag) {
		t.Fatalf("flag flipped: %v", err)
	}
}

func refixCRC(b []byte) (Frame, error) {
	f := Frame{}
	if len(b) < HeaderSize {
		return f, ErrTruncated
	}
	hd, err := parseHeader(b[:HeaderSize], 0)
	if err != nil || len(b) != HeaderSize+hd.n {
		return f, ErrTruncated
	}
	return Frame{Type: hd.typ, Flags: hd.flags, Corr: hd.corr, Body: b[HeaderSize:]}, nil
}

func TestOpenPolicy(t *testing.T) {
	other, _ := NewKey([]byte("another key of enough length"))
	sealed, _, _ := DecodeFrame(testKey.NewSealer(1).AppendFrame(nil, Frame{Type: TypeMetadata}), 0)
	plain := Frame{Type: TypeMetadata}
	cases := []struct {
		name string
		o    *Opener
		f    Frame
		want error
	}{
		{"keyed/sealed", testKey.NewOpener(), sealed, nil},
		{"keyed/plain", testKey.NewOpener(), plain, ErrUnsealed},
		{"wrong key", other.NewOpener(), sealed, ErrBadTag},
		{"open/sealed", nil, sealed, ErrNotKeyed},
		{"open/plain", nil, plain, nil},
		{"short", testKey.NewOpener(), Frame{Flags: FlagSealed, Body: make([]byte, TrailerSize-1)}, ErrShortSeal},
	}
	for _, c := range cases {
		_, _, err := OpenWith(c.o, c.f)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if c.want != nil && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v does not match ErrUnauthorized", c.name, err)
		}
	}
}

func TestRefusalIsRecognised(t *testing.T) {
	f, _, err := DecodeFrame(Refusal(9, "no"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if msg, ok := IsRefusal(f); !ok || msg != "no" || f.Corr != 9 {
		t.Fatalf("IsRefusal = %q, %v", msg, ok)
	}
	if _, ok := IsRefusal(Encode(&Error{Code: ErrBusy}, 1)); ok {
		t.Fatal("a BUSY error taken for a refusal")
	}
}

func TestSealAndOpenDoNotAllocate(t *testing.T) {
	s := testKey.NewSealer(1)
	o := testKey.NewOpener()
	in := Frame{Type: TypeProduce, Body: make([]byte, 300)}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = s.AppendFrame(buf[:0], in) }); n != 0 {
		t.Errorf("Sealer.AppendFrame: %v allocations", n)
	}
	f, _, _ := DecodeFrame(buf, 0)
	if n := testing.AllocsPerRun(100, func() { o.Open(f) }); n != 0 {
		t.Errorf("Opener.Open: %v allocations", n)
	}
}

func TestReplayWindow(t *testing.T) {
	w := NewReplayWindow(2)
	acc := func(sender, seq uint64) bool { return w.Accept(Stamp{Sender: sender, Seq: seq}) }
	steps := []struct {
		sender, seq uint64
		want        bool
	}{
		{1, 0, false}, // zero is never sent
		{1, 5, true}, {1, 5, false}, {1, 3, true}, {1, 3, false}, {1, 6, true},
		{1, 200, true}, {1, 6, false}, {1, 137, true}, {1, 136, false}, // 136 is 64 behind: too old
		{2, 1, true}, {3, 1, true}, // 1 is the least recently heard: evicted
		{2, 1, false}, {3, 1, false},
	}
	for i, s := range steps {
		if got := acc(s.sender, s.seq); got != s.want {
			t.Fatalf("step %d (sender %d seq %d): got %v, want %v", i, s.sender, s.seq, got, s.want)
		}
	}
	if w.Len() != 2 {
		t.Fatalf("window holds %d senders, bound is 2", w.Len())
	}
}

func FuzzOpen(f *testing.F) {
	f.Add(testKey.NewSealer(1).AppendFrame(nil, Frame{Type: TypeHeartbeat, Body: []byte("hb")}), []byte("p"))
	f.Add(AppendFrame(nil, Frame{Type: TypeHeartbeat, Flags: FlagSealed, Body: make([]byte, TrailerSize)}), []byte{})
	f.Fuzz(func(t *testing.T, b []byte, payload []byte) {
		o := testKey.NewOpener()
		if fr, _, err := DecodeFrame(b, fuzzMax); err == nil {
			// A forged frame never opens (the fuzzer cannot find HMAC
			// collisions); opening must not panic whatever the body.
			if got, _, err := o.Open(fr); err == nil && len(got.Body) > len(fr.Body) {
				t.Fatalf("opened body longer than the frame's")
			}
		}
		// And anything sealed opens to itself.
		in := Frame{Type: Type(len(payload)), Corr: uint64(len(b)), Body: payload}
		fr, _, err := DecodeFrame(testKey.NewSealer(7).AppendFrame(nil, in), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, st, err := o.Open(fr)
		if err != nil || !bytes.Equal(got.Body, payload) || st != (Stamp{7, 1}) {
			t.Fatalf("round trip: %v %+v", err, st)
		}
	})
}

// FuzzReplayWindow checks the window against a model that remembers every
// number: accepted means never seen before, and anything within the window
// that was never seen is accepted.
func FuzzReplayWindow(f *testing.F) {
	f.Add([]byte{1, 2, 3, 3, 2, 200, 1, 150})
	f.Fuzz(func(t *testing.T, seqs []byte) {
		w := NewReplayWindow(4)
		seen := map[uint64]bool{}
		var top uint64
		for i, b := range seqs {
			seq := uint64(b)*3 + uint64(i%3) // spread, with some repeats
			got := w.Accept(Stamp{Sender: 1, Seq: seq})
			if got && (seen[seq] || seq == 0) {
				t.Fatalf("seq %d accepted twice", seq)
			}
			if !got && !seen[seq] && seq != 0 && seq+replayBits > top {
				t.Fatalf("fresh seq %d inside the window (top %d) refused", seq, top)
			}
			if got {
				seen[seq] = true
				top = max(top, seq)
			}
		}
	})
}

func BenchmarkSealOpen1KB(b *testing.B) {
	s, o := testKey.NewSealer(1), testKey.NewOpener()
	in := Frame{Type: TypeProduce, Body: make([]byte, 1024)}
	buf := make([]byte, 0, 4096)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendFrame(buf[:0], in)
		f, _, _ := DecodeFrame(buf, 0)
		if _, _, err := o.Open(f); err != nil {
			b.Fatal(err)
		}
	}
}
