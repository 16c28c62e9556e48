package broker

import (
	"sync/atomic"

	"github.com/logstream/logstream/pkg/wire"
)

// handoff passes an acknowledgement given while Propose was still running
// back to the goroutine that called it, which then writes it itself (one
// hand-off fewer than queueing it for the connection's writer). The
// acknowledgement may come from that goroutine (a lone broker working
// inline) or from the cluster loop before Propose returned; give and take
// decide, once, which side writes it.
type handoff struct {
	state atomic.Int32 // 0: Propose running; 1: Propose returned; 2: acknowledged before that
	ack   wire.ProduceAck
}

// give offers ack to the caller of Propose; false means Propose had already
// returned and the giver must send it itself.
func (h *handoff) give(ack wire.ProduceAck) bool {
	h.ack = ack // before the CAS that publishes it: take reads it only after seeing 2
	return h.state.CompareAndSwap(0, 2)
}

// take is called once Propose returned: it returns the acknowledgement given
// meanwhile, if any.
func (h *handoff) take() (wire.ProduceAck, bool) {
	if h.state.CompareAndSwap(0, 1) {
		return wire.ProduceAck{}, false
	}
	return h.ack, true
}
