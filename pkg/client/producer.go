package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

// ProducerOptions tune batching and how much may wait unacknowledged.
type ProducerOptions struct {
	Topic           string
	MaxBatchRecords int // records per PRODUCE frame
	MaxBatchBytes   int // payload bytes per PRODUCE frame
	MaxInFlight     int // PRODUCE frames awaiting their ack
	MaxPending      int // records queued or unacknowledged before Send blocks
	// Linger lets a batch fill for a moment when few records are queued;
	// zero sends at once (lowest latency).
	Linger time.Duration
	// OnAck, if set, is called from the connection's reader with the first
	// sequence number and count of every acknowledged batch (load generator).
	OnAck func(firstSeq uint64, count int)
}

// ErrRecordTooLarge is returned by Send for a record that cannot fit a frame.
var ErrRecordTooLarge = errors.New("record larger than the frame limit")

// Producer sends records to one topic and gets each acknowledged exactly
// once. Every record gets the next sequence number; after a reconnect all
// unacknowledged records are sent again in order, and the broker drops the
// ones it already stored. Run owns the connection; Send and Flush may be
// called from any goroutine.
type Producer struct {
	o  Options
	po ProducerOptions

	mu      sync.Mutex
	queue   []record.Record // unacknowledged records in sequence order
	sent    int             // queue[:sent] went out on the current connection
	nextSeq uint64
	acked   uint64
	fatal   error
	changed chan struct{} // closed and replaced whenever queue or acked changes
	wake    chan struct{} // Send → sender: records waiting
}

// NewProducer returns a producer; call Run to connect and send.
func NewProducer(o Options, po ProducerOptions) *Producer {
	o.Defaults()
	if po.MaxBatchRecords <= 0 {
		po.MaxBatchRecords = 1000
	}
	if po.MaxBatchBytes <= 0 {
		po.MaxBatchBytes = 1 << 20
	}
	if po.MaxInFlight <= 0 {
		po.MaxInFlight = 32
	}
	if po.MaxPending <= 0 {
		po.MaxPending = 100000
	}
	return &Producer{o: o, po: po, nextSeq: 1, changed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// MaxRecordBytes is the largest payload that fits one PRODUCE frame.
func (p *Producer) MaxRecordBytes() int {
	return p.o.MaxFrame - 1024 - len(p.po.Topic) - len(p.o.ClientID)
}

// Send queues one record, blocking while MaxPending records are unacknowledged.
func (p *Producer) Send(ctx context.Context, payload []byte) error {
	if len(payload) > p.MaxRecordBytes() {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(payload), p.MaxRecordBytes())
	}
	for {
		p.mu.Lock()
		if p.fatal != nil {
			err := p.fatal
			p.mu.Unlock()
			return err
		}
		if len(p.queue) < p.po.MaxPending {
			p.queue = append(p.queue, record.Record{Timestamp: time.Now().UnixNano(), Seq: p.nextSeq, Payload: payload})
			p.nextSeq++
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
			return nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush waits until every queued record is acknowledged.
func (p *Producer) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, err, ch := len(p.queue), p.fatal, p.changed
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Acked is the number of records acknowledged so far.
func (p *Producer) Acked() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// Pending is the number of records not yet acknowledged.
func (p *Producer) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

func (p *Producer) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Producer) setFatal(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fatal == nil {
		p.fatal = err
		p.notify()
	}
	return p.fatal
}

// Run connects, sends, and reconnects until ctx ends or no broker can be
// reached within the reconnect attempts (then Send and Flush fail too).
// After every connection, everything unacknowledged goes out again.
func (p *Producer) Run(ctx context.Context) error {
	err := p.o.loop(ctx, "resending unacknowledged records", p.session, func() {
		p.mu.Lock()
		p.sent = 0
		p.mu.Unlock()
	})
	if err != nil {
		return p.setFatal(err)
	}
	return nil
}

type fatalError struct{ error }

// isFatal says err must end the client: a refusal it cannot fix by
// retrying (a bad request, a key that does not match).
func isFatal(err error) bool {
	var f fatalError
	return errors.As(err, &f) || errors.Is(err, wire.ErrAuth)
}

// batchRef is one PRODUCE frame awaiting its ack.
type batchRef struct {
	corr     uint64
	firstSeq uint64
	count    int
}

// session runs one connection: the reader takes acks, this goroutine sends.
func (p *Producer) session(ctx context.Context, conn *framed.Conn, h *health) error {
	inflight := make(chan batchRef, p.po.MaxInFlight)
	errc := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		errc <- p.readAcks(conn, inflight, h)
	}()
	hbDone := make(chan struct{})
	defer func() {
		close(hbDone)
		conn.Close()
		<-readerDone
	}()
	go p.o.heartbeat(conn, hbDone)

	var corr uint64
	for {
		// Take the change signal before looking at the state, so a change
		// between the look and the wait still wakes us.
		p.mu.Lock()
		unsent, changed := len(p.queue)-p.sent, p.changed
		p.mu.Unlock()
		if unsent > 0 && len(inflight) < cap(inflight) {
			if unsent < p.po.MaxBatchRecords && p.po.Linger > 0 {
				select {
				case <-time.After(p.po.Linger):
				case <-ctx.Done():
					return nil
				}
			}
			corr++
			f, ref := p.nextBatch(corr)
			inflight <- ref // never blocks: checked above, and only we add
			if err := conn.Send(f); err != nil {
				return <-errc
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-p.wake:
		case <-changed:
		}
	}
}

// nextBatch builds the next PRODUCE frame from the unsent records.
func (p *Producer) nextBatch(corr uint64) (wire.Frame, batchRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	recs := p.queue[p.sent:]
	n, bytes := 0, 0
	for n < len(recs) && n < p.po.MaxBatchRecords {
		bytes += len(recs[n].Payload) + 32
		if n > 0 && bytes > p.po.MaxBatchBytes {
			break
		}
		n++
	}
	m := wire.Produce{Topic: p.po.Topic, ProducerID: p.o.ClientID, Acks: 1, Records: recs[:n]}
	f := wire.Encode(&m, corr) // encodes now, so later queue changes cannot touch the frame
	p.sent += n
	return f, batchRef{corr: corr, firstSeq: recs[0].Seq, count: n}
}

// readAcks matches PRODUCE_ACKs to the batches in flight, in order.
func (p *Producer) readAcks(conn *framed.Conn, inflight chan batchRef, h *health) error {
	for {
		f, err := p.o.recv(conn)
		if err != nil {
			return err
		}
		switch f.Type {
		case wire.TypeHeartbeat:
			p.o.noteHeartbeat(f)
			h.answered.Store(true)
			continue
		case wire.TypeError:
			var m wire.Error
			if err := m.Unmarshal(f.Body); err != nil {
				return err
			}
			return ackError(m.Code, m.Message, m.Redirect)
		case wire.TypeProduceAck:
		default:
			continue
		}
		var ack wire.ProduceAck
		if err := ack.Unmarshal(f.Body); err != nil {
			return err
		}
		if ack.Code != wire.ErrNone {
			return ackError(ack.Code, ack.Message, ack.Redirect)
		}
		var ref batchRef
		select {
		case ref = <-inflight:
		default:
			return fmt.Errorf("unexpected PRODUCE_ACK (corr %d)", f.Corr)
		}
		if ref.corr != f.Corr || ref.firstSeq != ack.FirstSeq || uint32(ref.count) != ack.Count {
			return fmt.Errorf("PRODUCE_ACK out of order: got corr %d seq %d, want corr %d seq %d", f.Corr, ack.FirstSeq, ref.corr, ref.firstSeq)
		}
		h.progress.Store(true)
		p.mu.Lock()
		p.queue = p.queue[ref.count:]
		p.sent -= ref.count
		p.acked += uint64(ref.count)
		if cap(p.queue) > 2*p.po.MaxPending && len(p.queue) < p.po.MaxPending/2 {
			p.queue = append([]record.Record(nil), p.queue...) // let the old array go
		}
		p.notify()
		p.mu.Unlock()
		if p.po.OnAck != nil {
			p.po.OnAck(ref.firstSeq, ref.count)
		}
	}
}

func ackError(code wire.ErrCode, msg, redirect string) error {
	switch code {
	case wire.ErrNotOwner, wire.ErrNotLeader:
		if redirect != "" {
			return &redirectError{to: redirect}
		}
		return &retryError{msg: "broker is not the topic's owner: " + msg}
	case wire.ErrNoQuorum, wire.ErrBusy:
		return &retryError{msg: code.String() + ": " + msg}
	}
	if permanent(code) {
		return fatalError{fmt.Errorf("broker refused the records: %s: %s", code, msg)}
	}
	return brokerError{fmt.Errorf("broker error %s: %s", code, msg)}
}

// permanent says a broker's refusal with code cannot heal by waiting: the
// request is wrong (BAD_REQUEST, TOO_LARGE), or our key (UNAUTHORIZED), or a
// bound the operator set is reached (LIMIT: the slots are other clients'
// for as long as they run). Retrying would only hear it again, so it ends
// the client at once with the broker's message. Everything else (BUSY,
// NO_QUORUM, a broker error, a lost connection) is retried with back-off.
func permanent(code wire.ErrCode) bool {
	switch code {
	case wire.ErrBadRequest, wire.ErrTooLarge, wire.ErrUnauthorized, wire.ErrLimit:
		return true
	}
	return false
}
