package client

import (
	"reflect"
	"testing"

	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func TestAckCoalescesRanges(t *testing.T) {
	c := NewConsumer(Options{}, ConsumerOptions{Topic: "logs", Group: "g"})
	var recs []record.Record
	for _, o := range []uint64{5, 6, 7, 10, 11, 3} {
		recs = append(recs, record.Record{Offset: o})
	}
	c.Ack(recs[:4])
	c.Ack(recs[4:])
	want := []wire.GroupRange{{From: 5, To: 8}, {From: 10, To: 12}, {From: 3, To: 4}}
	if !reflect.DeepEqual(c.grp.acks, want) {
		t.Fatalf("acks %v, want %v", c.grp.acks, want)
	}
	u := NewConsumer(Options{}, ConsumerOptions{Topic: "logs"})
	u.Ack(recs)
	if len(u.grp.acks) != 0 {
		t.Fatalf("a consumer without a group kept acknowledgements: %v", u.grp.acks)
	}
}
