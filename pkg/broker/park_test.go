package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// parkTrace records what happened to each parked batch.
type parkTrace struct {
	proposed []string
	answered map[string]wire.ProduceAck
}

func (tr *parkTrace) batch(topic, producer string, first uint64, at time.Time) parkedProduce {
	name := fmt.Sprintf("%s/%s/%d", topic, producer, first)
	return parkedProduce{topic: topic, recs: []record.Record{{ProducerID: producer, Seq: first}}, first: first, since: at,
		done: func(a wire.ProduceAck) { tr.answered[name] = a }}
}

func name(p parkedProduce) string {
	return fmt.Sprintf("%s/%s/%d", p.topic, p.recs[0].ProducerID, p.first)
}

// Batches refused during a view change are proposed again, per topic in
// producer and sequence order, once the node takes writes; a frozen topic
// keeps its later batches parked; a moved topic's batches get the redirect;
// one parked past the limit is answered BUSY, as before parking existed.
func TestParkLot(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := &parkTrace{answered: map[string]wire.ProduceAck{}}
	l := &parkLot{limit: time.Second}
	// Failed in map order by the view change: out of sequence order.
	l.add(tr.batch("a", "p", 21, t0))
	l.add(tr.batch("a", "p", 1, t0))
	l.add(tr.batch("b", "q", 5, t0))
	l.add(tr.batch("a", "p", 11, t0))
	l.add(tr.batch("c", "r", 1, t0))
	if !l.holds("a") || l.holds("z") {
		t.Fatal("holds: want a parked, z not")
	}
	frozen := map[string]bool{"a": true, "b": true, "c": false}
	moved := map[string]bool{"c": true}
	propose := func(p parkedProduce) error {
		switch {
		case frozen[p.topic]:
			return cluster.ErrFrozen
		case moved[p.topic]:
			return &cluster.NotOwnerError{Owner: cluster.Member{ID: 2, Addr: "10.0.0.2:8001"}}
		}
		tr.proposed = append(tr.proposed, name(p))
		return nil
	}
	if !l.retry(t0.Add(10*time.Millisecond), propose) {
		t.Error("the moved topic's batch was answered: retry must say so")
	}
	if a, ok := tr.answered["c/r/1"]; !ok || a.Code != wire.ErrNotOwner || a.Redirect != "10.0.0.2:8001" {
		t.Errorf("moved topic: answered %+v (%v), want a redirect", a, ok)
	}
	if len(tr.proposed) != 0 || len(l.list) != 4 {
		t.Fatalf("while frozen: proposed %v, %d parked; want none proposed, 4 parked", tr.proposed, len(l.list))
	}
	frozen["a"] = false // a's view is active again; b's owner still catching up
	l.retry(t0.Add(20*time.Millisecond), propose)
	if want := "[a/p/1 a/p/11 a/p/21]"; fmt.Sprint(tr.proposed) != want {
		t.Errorf("proposed %v, want %s (sequence order)", tr.proposed, want)
	}
	if len(l.list) != 1 || l.holds("a") || !l.holds("b") {
		t.Errorf("parked %d, want only b's batch", len(l.list))
	}
	l.retry(t0.Add(time.Second), propose)
	if a, ok := tr.answered["b/q/5"]; !ok || a.Code != wire.ErrBusy || a.FirstSeq != 5 {
		t.Errorf("past the limit: answered %+v (%v), want BUSY for first seq 5", a, ok)
	}
	if len(l.list) != 0 {
		t.Errorf("%d still parked", len(l.list))
	}
}
