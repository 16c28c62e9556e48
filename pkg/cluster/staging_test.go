package cluster

import (
	"slices"
	"testing"

	"github.com/logstream/logstream/pkg/record"
)

func stagedRecs(from, to uint64) []record.Record {
	var out []record.Record
	for off := from; off < to; off++ {
		out = append(out, record.Record{Offset: off, ProducerID: "p", Seq: off + 1, Payload: []byte{byte(off)}})
	}
	return out
}

func offsetsOf(recs []record.Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for off := from; off < to; off++ {
		out = append(out, off)
	}
	return out
}

// newStaged returns a staged view of a store log holding [0, 10), and the
// node whose writes it stages.
func newStaged(t *testing.T) (*Node, *memLog, *stagedLog) {
	t.Helper()
	s := newMemStore()
	l, _ := s.Topic("t")
	ml := l.(*memLog)
	s.applying = true
	if err := ml.AppendAt(stagedRecs(0, 10)); err != nil {
		t.Fatal(err)
	}
	s.applying = false
	n := &Node{topics: map[string]*topic{}, changed: map[string]bool{}}
	return n, ml, n.stagedLog(ml, "t")
}

// While writes are staged the node reads its log as if they were made; the
// store log is untouched until the runtime applies them, and after Advance
// the node reads the store again, which then says the same.
func TestStagedLogReadsItsWrites(t *testing.T) {
	read := func(t *testing.T, l Log, from uint64, max int) []uint64 {
		t.Helper()
		recs, err := l.Read(from, max, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		return offsetsOf(recs)
	}
	t.Run("appends", func(t *testing.T) {
		n, ml, sl := newStaged(t)
		if first, _ := sl.Append(stagedRecs(0, 3)); first != 10 { // offsets assigned by the node
			t.Fatalf("Append at %d, want 10", first)
		}
		if err := sl.AppendAt(stagedRecs(13, 15)); err != nil {
			t.Fatal(err)
		}
		if err := sl.AppendAt(stagedRecs(16, 17)); err == nil {
			t.Fatal("a replica batch past the staged end was taken")
		}
		if sl.NextOffset() != 15 || sl.Durable() != 10 || ml.NextOffset() != 10 {
			t.Fatalf("next %d durable %d store %d, want 15 10 10", sl.NextOffset(), sl.Durable(), ml.NextOffset())
		}
		if got := read(t, sl, 8, 100); !slices.Equal(got, span(8, 10)) {
			t.Errorf("read from the store part: %v", got) // a read stops where the store's records end
		}
		if got := read(t, sl, 11, 3); !slices.Equal(got, span(11, 14)) {
			t.Errorf("read across staged batches: %v", got)
		}
		rd := n.Ready()
		if len(rd.Writes) != 2 || rd.Writes[0].Op != WriteAppend || rd.Writes[1].Op != WriteAppendAt {
			t.Fatalf("writes %+v, want the append and the replica append", rd.Writes)
		}
		n.Advance(ml.store.apply(rd.Writes))
		if sl.staged || sl.NextOffset() != 15 || ml.NextOffset() != 15 {
			t.Fatalf("after Advance: staged %v, next %d, store %d", sl.staged, sl.NextOffset(), ml.NextOffset())
		}
	})
	t.Run("truncate and append", func(t *testing.T) {
		_, ml, sl := newStaged(t)
		_, _ = sl.Append(stagedRecs(0, 5)) // [10, 15)
		_ = sl.TruncateTo(12)
		if sl.NextOffset() != 12 || sl.Durable() != 10 {
			t.Fatalf("next %d durable %d, want 12 10", sl.NextOffset(), sl.Durable())
		}
		_ = sl.TruncateTo(6)
		_ = sl.AppendAt(stagedRecs(6, 8))
		if got := read(t, sl, 0, 100); !slices.Equal(got, span(0, 6)) {
			t.Errorf("read below a staged truncation: %v", got)
		}
		if got := read(t, sl, 6, 100); !slices.Equal(got, span(6, 8)) {
			t.Errorf("read of what follows it: %v", got)
		}
		if sl.Durable() != 6 || ml.NextOffset() != 10 {
			t.Fatalf("durable %d store %d, want 6 10", sl.Durable(), ml.NextOffset())
		}
	})
	t.Run("reset", func(t *testing.T) {
		_, _, sl := newStaged(t)
		if err := sl.Reset(5); err == nil {
			t.Fatal("a reset below the end was staged")
		}
		_ = sl.Reset(20)
		if sl.StartOffset() != 20 || sl.NextOffset() != 20 {
			t.Fatalf("[%d, %d), want [20, 20)", sl.StartOffset(), sl.NextOffset())
		}
		if _, err := sl.Read(5, 10, 1<<20); err == nil {
			t.Error("a read below the staged start succeeded")
		}
	})
	t.Run("meta", func(t *testing.T) {
		_, ml, sl := newStaged(t)
		_ = sl.SetMeta([]byte("E1"))
		if string(sl.Meta()) != "E1" || len(ml.Meta()) != 0 {
			t.Fatalf("meta %q, store %q", sl.Meta(), ml.Meta())
		}
	})
	t.Run("repairs", func(t *testing.T) {
		_, ml, sl := newStaged(t)
		ml.damage(2, 8)
		_ = sl.SetRetentionFloor(0) // opens the staging
		if err := sl.RepairRange(stagedRecs(3, 5)); err != nil {
			t.Fatal(err)
		}
		if got := sl.Holes(); !slices.Equal(got, []Range{{2, 3}, {5, 8}}) {
			t.Errorf("holes %v, want the store's less the staged repair", got)
		}
		if err := sl.RepairRange(stagedRecs(4, 6)); err == nil {
			t.Error("a repair of records already repaired was staged")
		}
		_ = sl.TruncateTo(6)
		if got := sl.Holes(); !slices.Equal(got, []Range{{2, 3}, {5, 6}}) {
			t.Errorf("holes %v after a staged truncation", got)
		}
	})
}
