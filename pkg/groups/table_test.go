package groups

import (
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func rec(off uint64, p wire.GroupPosition) record.Record {
	return record.Record{Offset: off, Payload: p.Marshal()}
}

func commit(g, t string, next uint64, at int64) wire.GroupPosition {
	return wire.GroupPosition{Kind: wire.GroupCommit, Group: g, Topic: t, Next: next, At: at, Member: "m"}
}

func TestTableKeepsNewestPerKeyInLogOrder(t *testing.T) {
	var tb Table
	for _, r := range []record.Record{
		rec(0, commit("g", "a", 10, 1)),
		rec(1, commit("g", "b", 5, 1)),
		rec(2, commit("h", "a", 7, 1)),
		// -from moved the position back on purpose: the newest wins, not the largest.
		rec(3, commit("g", "a", 3, 2)),
		{Offset: 4, Payload: []byte("not a position")},
	} {
		tb.Apply(&r)
	}
	if e, ok := tb.Position("g", "a"); !ok || e.Next != 3 || e.Offset != 3 {
		t.Fatalf("g/a = %+v %v, want next 3 at offset 3", e, ok)
	}
	if e, _ := tb.Position("g", "b"); e.Next != 5 {
		t.Fatalf("g/b = %+v", e)
	}
	if tb.Next() != 5 || tb.Len() != 3 {
		t.Fatalf("next %d len %d", tb.Next(), tb.Len())
	}
	del := rec(5, wire.GroupPosition{Kind: wire.GroupDelete, Group: "g"})
	tb.Apply(&del)
	if _, ok := tb.Position("g", "a"); ok {
		t.Fatal("deleted group still has a position")
	}
	if _, ok := tb.Position("h", "a"); !ok || tb.Len() != 1 {
		t.Fatal("deleting g removed h")
	}
	// A position written after the deletion starts the group again.
	again := rec(6, commit("g", "a", 1, 3))
	tb.Apply(&again)
	if e, ok := tb.Position("g", "a"); !ok || e.Next != 1 {
		t.Fatalf("g/a after re-creation = %+v %v", e, ok)
	}
}

func TestPositionsSkipExpired(t *testing.T) {
	now := time.Unix(1000000, 0)
	var tb Table
	for i, p := range []wire.GroupPosition{
		commit("old", "a", 1, now.Add(-8*24*time.Hour).UnixNano()),
		commit("new", "a", 2, now.Add(-time.Hour).UnixNano()),
	} {
		r := rec(uint64(i), p)
		tb.Apply(&r)
	}
	ps := tb.Positions(now, DefaultExpiry)
	if len(ps) != 1 || ps[0].Group != "new" {
		t.Fatalf("positions = %+v", ps)
	}
	if len(tb.Positions(now, 0)) != 2 {
		t.Fatal("expiry 0 should list all")
	}
}

func TestStaleAndRefresh(t *testing.T) {
	now := time.Unix(1000000, 0)
	at := now.Add(-time.Minute).UnixNano()
	var tb Table
	r0, r1, r2 := rec(0, commit("g", "a", 10, at)), rec(1, commit("g", "b", 20, at)), rec(9, commit("g", "c", 30, at))
	expired := rec(2, commit("x", "a", 1, now.Add(-30*24*time.Hour).UnixNano()))
	for _, r := range []*record.Record{&r0, &r1, &expired, &r2} {
		tb.Apply(r)
	}
	// Window of 10 records ending at 10: offsets below 5 are in the older half.
	st := tb.Stale(10, 10, now, DefaultExpiry, 10)
	if len(st) != 2 || st[0].Topic != "a" || st[1].Topic != "b" {
		t.Fatalf("stale = %+v", st)
	}
	if got := tb.Stale(10, 10, now, DefaultExpiry, 1); len(got) != 1 || got[0].Topic != "a" {
		t.Fatalf("limit: %+v", got)
	}
	if tb.Stale(10, 0, now, DefaultExpiry, 10) != nil || tb.Stale(4, 10, now, DefaultExpiry, 10) != nil {
		t.Fatal("nothing is stale without retention or inside the window")
	}
	// The refresh rewrites the same position, keeping when it was acknowledged.
	ref := record.Record{Offset: 10, Payload: Refresh(st[0])}
	tb.Apply(&ref)
	e, _ := tb.Position("g", "a")
	if e.Next != 10 || e.At != at || e.Offset != 10 {
		t.Fatalf("after refresh: %+v", e)
	}
	p, err := wire.UnmarshalGroupPosition(ref.Payload)
	if err != nil || !p.Refresh {
		t.Fatalf("refresh payload: %+v %v", p, err)
	}
}
