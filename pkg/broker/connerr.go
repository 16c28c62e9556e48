package broker

import (
	"errors"

	"github.com/logstream/logstream/pkg/wire"
)

// The connection layer's error convention (nsq's protocol_v2 Exec): a
// request handler returns (reply, error), and serve alone turns an error into
// the frame the client is told (answer). The error's type says what kind of
// failure it was and so what follows:
//
//   - *refusal: the request was understood and refused (served elsewhere,
//     busy, out of range, a bad topic name, a failed read). The client is
//     told the code (and where to go); nothing is counted as bad input.
//   - any other error: the frame was bad (it does not decode, or it is not
//     allowed on this connection). It is counted as a bad frame, logged at a
//     bounded rate and answered BAD_REQUEST.
//
// Both leave the connection open: framing is intact, so the next frame can
// be read. What ends a connection is decided before any handler runs (Recv
// failing: a frame that breaks framing, a wrong key, silence) or by the
// connection's own bounds (a client too slow to read, replyNow). No handler
// error ends one today, so there is no fatal kind to carry.

// refusal is a request refused with a wire error code.
type refusal struct {
	code     wire.ErrCode
	msg      string
	redirect string // where to retry, with ErrNotOwner
	topic    string // the topic refused, for a PRODUCE (answered by a PRODUCE_ACK)
}

func (r *refusal) Error() string { return r.msg }

func refuse(code wire.ErrCode, msg string) *refusal { return &refusal{code: code, msg: msg} }

// frame is the answer to a request of type req that r refused. A producer
// matches acknowledgements by topic, so a PRODUCE is refused with a
// PRODUCE_ACK; every other request with an ERROR.
func (r *refusal) frame(req wire.Type) wire.Message {
	if req == wire.TypeProduce {
		return &wire.ProduceAck{Topic: r.topic, Code: r.code, Message: r.msg}
	}
	return &wire.Error{Code: r.code, Message: r.msg, Redirect: r.redirect}
}

// answer turns a handler's error for frame f into the frame the client is
// told, counting and logging bad input. It is the only place that does.
func (c *peer) answer(f wire.Frame, err error) wire.Message {
	var r *refusal
	if errors.As(err, &r) {
		return r.frame(f.Type)
	}
	if errors.Is(err, wire.ErrTooManyRecords) {
		c.b.counters.tooManyRecords.Add(1)
	}
	c.b.counters.badFrames.Add(1)
	c.b.rlog.warn("bad_request").Err(err).Stringer("type", f.Type).Stringer("peer", c.conn.RemoteAddr()).Msg("bad request refused")
	return &wire.Error{Code: wire.ErrBadRequest, Message: err.Error()}
}
