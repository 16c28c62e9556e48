package wire

import (
	"errors"
	"reflect"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range samples() {
		seen[m.Type()] = true
		f := Encode(m, 77)
		if f.Type != m.Type() || f.Corr != 77 {
			t.Fatalf("%v: frame %+v", m.Type(), f)
		}
		got, err := f.Message()
		if err != nil {
			t.Fatalf("%v: %v", m.Type(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%v: round trip\n got %+v\nwant %+v", m.Type(), got, m)
		}
	}
	for typ := TypeJoin; typ <= TypeGroupState; typ++ {
		if !seen[typ] {
			t.Errorf("no sample of %v", typ)
		}
	}
}

// Encoding a value and a pointer gives the same bytes.
func TestEncodeValueOrPointer(t *testing.T) {
	j := Join{Role: RoleCtl, NodeID: "ctl"}
	a, b := Encode(j, 1), Encode(&j, 1)
	if string(a.Body) != string(b.Body) || a.Type != b.Type {
		t.Fatal("value and pointer encodings differ")
	}
}

func TestMessageTruncations(t *testing.T) {
	for _, m := range samples() {
		body := m.AppendTo(nil)
		for i := 0; i < len(body); i++ {
			if _, err := Decode(m.Type(), body[:i]); err == nil {
				t.Fatalf("%v: prefix of %d/%d bytes decoded", m.Type(), i, len(body))
			}
		}
	}
}

func TestMessageTrailingBytes(t *testing.T) {
	for _, m := range samples() {
		body := append(m.AppendTo(nil), 0)
		_, err := Decode(m.Type(), body)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v with a trailing byte: %v", m.Type(), err)
		}
	}
}

// A failed Unmarshal leaves the destination untouched.
func TestUnmarshalFailureKeepsValue(t *testing.T) {
	m := Join{NodeID: "keep"}
	if err := m.Unmarshal([]byte{1, 5, 'a'}); err == nil {
		t.Fatal("short body decoded")
	}
	if m.NodeID != "keep" {
		t.Fatalf("destination changed to %+v", m)
	}
}

func TestDecodeUnknownType(t *testing.T) {
	for _, typ := range []Type{0, 14, TypeElection, TypeBrokerJoinResponse, 255} {
		if m, err := Decode(typ, nil); err == nil || m != nil {
			t.Fatalf("type %v: %v, %v", typ, m, err)
		}
	}
}

func TestListBounds(t *testing.T) {
	// A count beyond what the remaining bytes can hold is refused before
	// anything is allocated for it.
	e := Enc{}
	e.String("t")
	e.String("p")
	e.U8(0)
	e.Count(1000)
	e.B = append(e.B, make([]byte, 100)...)
	if _, err := Decode(TypeProduce, e.B); !errors.Is(err, ErrTruncated) {
		t.Fatalf("1000 records in 100 bytes: %v", err)
	}
	// A count over MaxListLen is refused whatever the size.
	e = Enc{}
	e.Count(MaxListLen + 1)
	if _, err := Decode(TypeMetadata, e.B); !errors.Is(err, ErrMalformed) {
		t.Fatalf("count over MaxListLen: %v", err)
	}
}

func TestCountersMustBeSorted(t *testing.T) {
	e := Enc{}
	for range 4 {
		e.String("")
	}
	e.U64(0)
	e.Count(0)
	e.Count(0)
	e.Count(0)
	e.Count(2)
	e.String("b")
	e.U64(1)
	e.String("a")
	e.U64(2)
	e.Count(0)
	if _, err := Decode(TypeMetadataResponse, e.B); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unsorted counters: %v", err)
	}
}

func TestBadBool(t *testing.T) {
	body := JoinResponse{IsLeader: true}.AppendTo(nil)
	body[8+1+1] = 2 // nonce, two empty strings, then the bool
	if _, err := Decode(TypeJoinResponse, body); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bool byte 2: %v", err)
	}
}

func TestErrorAsError(t *testing.T) {
	var err error = &Error{Code: ErrNotLeader, Message: "go away", Redirect: "10.0.0.1:8001"}
	if !errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNotOwner) {
		t.Fatal("Error does not unwrap to its code")
	}
	if got, want := err.Error(), "NOT_LEADER: go away (redirect 10.0.0.1:8001)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if (&Error{}).Unwrap() != nil || ErrNone.Err() != nil || ErrBusy.Err() != ErrBusy {
		t.Fatal("ErrNone must map to a nil error")
	}
}

func TestNames(t *testing.T) {
	cases := []struct{ got, want string }{
		{TypeJoin.String(), "JOIN"},
		{TypeJoinResponse.String(), "JOIN_RESPONSE"},
		{TypeProduce.String(), "PRODUCE"},
		{TypeStateExchange.String(), "STATE_EXCHANGE"},
		{TypeViewInstall.String(), "VIEW_INSTALL"},
		{Type(200).String(), "TYPE(200)"},
		{RoleCtl.String(), "ctl"},
		{Role(0).String(), "role(0)"},
		{ErrOffsetOutOfRange.String(), "OFFSET_OUT_OF_RANGE"},
		{ErrOffsetOutOfRange.Error(), "offset out of range"},
		{ErrCode(99).String(), "CODE(99)"},
		{FromLatest.String(), "latest"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for typ := Type(1); typ < 64; typ++ {
		if (typ <= TypeGroupState || typ >= TypeElection && typ <= TypeBrokerJoinResponse) && typ.String()[0] == 'T' {
			t.Errorf("type %d has no name", typ)
		}
	}
}

func TestIsCluster(t *testing.T) {
	for typ := 0; typ < 256; typ++ {
		want := typ >= int(TypeElection) && typ < 64
		if got := Type(typ).IsCluster(); got != want {
			t.Errorf("Type(%d).IsCluster() = %v", typ, got)
		}
	}
	if RandomID() == RandomID() {
		t.Error("RandomID repeats")
	}
}
