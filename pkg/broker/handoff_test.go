package broker

import (
	"runtime"
	"testing"

	"github.com/logstream/logstream/pkg/wire"
)

// An acknowledgement given on another goroutine (the cluster loop) before
// Propose returned is taken by the caller. The write of the ack must happen
// before the state that publishes it: with the ack written after the CAS
// (as the first version did) the race detector reports this test.
func TestHandoffFromAnotherGoroutine(t *testing.T) {
	for i := 0; i < 200; i++ {
		var h handoff
		given := make(chan bool)
		go func() { given <- h.give(wire.ProduceAck{Topic: "t", BaseOffset: uint64(i), Count: 1}) }()
		for n := 0; h.state.Load() == 0; n++ { // wait for give's CAS, as produce may
			if n > 1e7 {
				t.Fatal("give never ran")
			}
			runtime.Gosched()
		}
		ack, ok := h.take()
		if !<-given || !ok || ack.BaseOffset != uint64(i) {
			t.Fatalf("run %d: take = %+v, %v", i, ack, ok)
		}
	}
}

// Once Propose returned, a late acknowledgement is the giver's to send.
func TestHandoffAfterReturn(t *testing.T) {
	var h handoff
	if _, ok := h.take(); ok {
		t.Fatal("nothing was given")
	}
	if h.give(wire.ProduceAck{Count: 1}) {
		t.Fatal("a late acknowledgement was taken by nobody")
	}
}
