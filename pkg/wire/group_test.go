package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func groupSamples() []GroupPosition {
	return []GroupPosition{
		{Kind: GroupCommit, Group: "g1", Topic: "logs", Next: 42, At: 1700000000123456789, Member: "cons1-abcd1234"},
		{Kind: GroupCommit, Group: "g.2_x-y", Topic: "t", Next: 1 << 62, At: -1, Refresh: true},
		{Kind: GroupDelete, Group: "g1", At: 5},
	}
}

func TestGroupPositionRoundTrip(t *testing.T) {
	for _, p := range groupSamples() {
		got, err := UnmarshalGroupPosition(p.Marshal())
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if got != p {
			t.Fatalf("round trip: got %+v, want %+v", got, p)
		}
	}
}

func TestGroupPositionRefusesBadPayloads(t *testing.T) {
	good := groupSamples()[0]
	bad := map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{2}, good.Marshal()[1:]...),
		"trailing":       append(good.Marshal(), 0),
		"truncated":      good.Marshal()[:5],
		"kind":           GroupPosition{Kind: 9, Group: "g", Topic: "t"}.Marshal(),
		"no group":       GroupPosition{Kind: GroupCommit, Topic: "t"}.Marshal(),
		"bad group":      GroupPosition{Kind: GroupCommit, Group: "a b", Topic: "t"}.Marshal(),
		"long group":     GroupPosition{Kind: GroupCommit, Group: strings.Repeat("g", 201), Topic: "t"}.Marshal(),
		"no topic":       GroupPosition{Kind: GroupCommit, Group: "g"}.Marshal(),
		"delete topic":   GroupPosition{Kind: GroupDelete, Group: "g", Topic: "t"}.Marshal(),
		"long member":    GroupPosition{Kind: GroupCommit, Group: "g", Topic: "t", Member: strings.Repeat("m", 201)}.Marshal(),
		"plain text":     []byte("hello"),
		"bool not 0 / 1": append(good.Marshal()[:len(good.Marshal())-1], 7),
	}
	for name, b := range bad {
		if _, err := UnmarshalGroupPosition(b); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: got %v, want a malformed/truncated error", name, err)
		}
	}
}

func TestValidGroupName(t *testing.T) {
	for _, ok := range []string{"g", "billing-1", "A.b_c", strings.Repeat("x", 200)} {
		if err := ValidGroupName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "ü", strings.Repeat("x", 201)} {
		if ValidGroupName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzGroupPosition: any payload decodes or is refused, never panics, and
// what decodes re-encodes to the same bytes (the encoding is canonical).
func FuzzGroupPosition(f *testing.F) {
	for _, p := range groupSamples() {
		f.Add(p.Marshal())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalGroupPosition(b)
		if err != nil {
			return
		}
		if again := p.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n% x\n% x", again, b)
		}
	})
}
