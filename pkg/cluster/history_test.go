package cluster

import (
	"fmt"
	"reflect"
	"testing"
)

func TestDivergence(t *testing.T) {
	h := func(pairs ...uint64) []Epoch {
		var out []Epoch
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, Epoch{pairs[i], pairs[i+1]})
		}
		return out
	}
	cases := []struct {
		name       string
		a          []Epoch
		aEnd       uint64
		b          []Epoch
		bEnd       uint64
		want       uint64
		wantNewerA bool
	}{
		{"empty", nil, 0, nil, 0, 0, false},
		{"same log", h(1, 0, 3, 10), 15, h(1, 0, 3, 10), 15, 15, false},
		{"prefix", h(1, 0, 3, 10), 12, h(1, 0, 3, 10), 15, 12, false},
		{"diverge at epoch change", h(1, 0, 3, 10), 15, h(1, 0, 4, 10), 12, 10, false},
		{"a kept old epoch longer", h(1, 0), 20, h(1, 0, 4, 12), 14, 12, false},
		{"no common epoch", h(2, 0), 5, h(3, 0), 5, 0, false},
		{"label only (empty epoch)", h(1, 0, 5, 10), 10, h(1, 0), 10, 10, true},
		{"higher label wins over length", h(1, 0, 5, 10), 10, h(1, 0, 3, 10), 40, 10, true},
	}
	for _, c := range cases {
		if got := divergence(c.a, c.aEnd, c.b, c.bEnd); got != c.want {
			t.Errorf("%s: divergence = %d, want %d", c.name, got, c.want)
		}
		if got := divergence(c.b, c.bEnd, c.a, c.aEnd); got != c.want {
			t.Errorf("%s: divergence not symmetric: %d", c.name, got)
		}
		if got := newer(label(c.a), c.aEnd, label(c.b), c.bEnd); got != c.wantNewerA {
			t.Errorf("%s: newer(a, b) = %v", c.name, got)
		}
	}
}

func TestHistoryHelpers(t *testing.T) {
	h := []Epoch{{1, 0}, {3, 10}, {6, 20}}
	if got := clipHistory(h, 15); !reflect.DeepEqual(got, h[:2]) {
		t.Errorf("clip 15: %v", got)
	}
	if got := clipHistory(h, 20); !reflect.DeepEqual(got, h) {
		t.Errorf("clip 20 keeps the label entry: %v", got)
	}
	if e, s := epochAt(h, 19); e != 3 || s != 10 {
		t.Errorf("epochAt(19) = %d,%d", e, s)
	}
	if got := pushEpoch(h, 7, 20); !reflect.DeepEqual(got, []Epoch{{1, 0}, {3, 10}, {7, 20}}) {
		t.Errorf("push onto an empty last epoch replaces it: %v", got)
	}
	if got := pushEpoch(h, 7, 25); len(got) != 4 || len(h) != 3 {
		t.Errorf("push appends without aliasing: %v / %v", got, h)
	}
	for _, hh := range [][]Epoch{nil, h, {{1, 0}}} {
		got, err := decodeHistory(encodeHistory(hh))
		if err != nil || len(got) != len(hh) || (len(hh) > 0 && !reflect.DeepEqual(got, hh)) {
			t.Errorf("history round trip %v: %v %v", hh, got, err)
		}
	}
	for _, bad := range [][]byte{{'X'}, {'E', 5}, {'E', 2, 3, 0, 1, 5}, {'E', 1, 1, 1, 9}} {
		if _, err := decodeHistory(bad); err == nil {
			t.Errorf("decodeHistory(%v) accepted", bad)
		}
	}
}

func TestHashRing(t *testing.T) {
	ids := []NodeID{1, 2, 3}
	r3 := newHashRing(ids, 64)
	r4 := newHashRing(append(ids, 4), 64)
	counts := map[NodeID]int{}
	moved := 0
	const n = 3000
	for i := range n {
		k := fmt.Sprintf("topic-%d", i)
		o3, o4 := r3.owner(k), r4.owner(k)
		counts[o3]++
		if o3 != o4 {
			moved++
			if o4 != 4 {
				t.Fatalf("%s moved from %d to %d, not to the new member", k, o3, o4)
			}
		}
		if newHashRing([]NodeID{3, 1, 2}, 64).owner(k) != o3 {
			t.Fatalf("owner depends on member order")
		}
	}
	for id, c := range counts {
		if c < n/6 {
			t.Errorf("member %d owns only %d of %d topics", id, c, n)
		}
	}
	if moved < n/8 || moved > n/2 {
		t.Errorf("adding a 4th member moved %d of %d topics", moved, n)
	}
	if (&hashRing{}).owner("x") != 0 {
		t.Error("empty ring has an owner")
	}
}
