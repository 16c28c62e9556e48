package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logstream/logstream/pkg/client/pipeline"
	"github.com/logstream/logstream/pkg/defaults"
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
	// Now, if set, is the clock that stamps records (Unix nanoseconds);
	// nil is the wall clock. Tests inject one.
	Now func() int64
}

// errRecordTooLarge is returned by Send for a record that cannot fit a frame.
var errRecordTooLarge = errors.New("record larger than the frame limit")

// Producer sends records to one topic and gets each acknowledged exactly
// once. Every record gets the next sequence number; after a reconnect all
// unacknowledged records are sent again in order, and the broker drops the
// ones it already stored. That logic is the pure state machine of package
// pipeline; Producer runs it: Run owns the connection, Send, SendAll and Flush may be
// called from any goroutine, and mu guards the state machine.
type Producer struct {
	o  Options // defaulted; read-only
	l  *link
	po ProducerOptions

	mu      sync.Mutex
	pipe    *pipeline.Pipeline
	fatal   error
	changed chan struct{} // closed and replaced whenever the pipeline's queue or acked changes
	wake    chan struct{} // Send → sender: records waiting

	// sendMu is held while a batch is taken from the pipeline and
	// written: by the session's goroutine, or by a Send that finds the
	// producer idle and writes the batch itself (sendIdle). It keeps the
	// correlation ids in the order the batches are written. Taken before
	// mu, never while holding it.
	sendMu sync.Mutex
	conn   *framed.Conn // sendMu: the session's connection; nil between sessions
	corr   uint64       // sendMu: the session's last correlation id
	enc    []byte       // sendMu: the PRODUCE body, encoded batch after batch

	// readMu is held by whoever reads the session's connection: the
	// session's reader goroutine, or a caller waiting in Flush that reads
	// the acknowledgements itself (readOwn) — the caller then gets its
	// answer without a hand-off from the reader, which cost a synchronous
	// send as much as the broker's share of its round trip. So that a
	// caller finds the connection free, the session's reader reads only
	// while something is owed (owed: a batch in flight, a heartbeat's
	// answer) and waits for readKick otherwise. Taken before mu and
	// sendMu, never while holding them.
	readMu   sync.Mutex
	rconn    *framed.Conn // readMu: the session's connection; nil between sessions
	rh       *health      // readMu: the session's health
	rerr     error        // readMu: the read error that ends the session
	readKick chan struct{}
	hbOwed   atomic.Int32 // heartbeats sent whose answer is not read yet
	// lateRead kicks the reader a moment after a Send wrote a batch itself
	// (sendIdle), in case no Flush reads its acknowledgement; lateArmed says
	// it is set. It is set once per moment, not per record: a timer reset
	// per record woke the runtime's poller thread each time.
	lateRead  *time.Timer
	lateArmed atomic.Bool
	lateAfter time.Duration // lateReadAfter; tests lengthen it

	ownReads atomic.Int64 // frames a Flush read itself (tests)
}

// lateReadAfter is how long a batch written by Send (sendIdle) may wait for
// a Flush to read its acknowledgement before the session's reader does (at
// most: the reader may come sooner, and finds nothing owed if a Flush did).
const lateReadAfter = 20 * time.Millisecond

// NewProducer returns a producer; call Run to connect and send.
func NewProducer(o Options, po ProducerOptions) *Producer {
	o.Defaults()
	if po.MaxBatchRecords <= 0 {
		po.MaxBatchRecords = defaults.ProducerBatchRecords
	}
	if po.MaxBatchBytes <= 0 {
		po.MaxBatchBytes = defaults.ProducerBatchBytes
	}
	if po.MaxInFlight <= 0 {
		po.MaxInFlight = defaults.ProducerInFlight
	}
	if po.MaxPending <= 0 {
		po.MaxPending = defaults.ProducerMaxPending
	}
	if po.Now == nil {
		po.Now = func() int64 { return time.Now().UnixNano() }
	}
	l := newLink(o)
	l.topic = po.Topic
	// Blocks of whole batches, so a full batch is never cut short at a
	// block's end.
	block := po.MaxBatchRecords * max(1, pipeline.DefaultBlockRecords/po.MaxBatchRecords)
	p := &Producer{o: o, l: l, po: po, pipe: pipeline.NewBlocks(po.MaxPending, po.MaxInFlight, block),
		changed: make(chan struct{}), wake: make(chan struct{}, 1), readKick: make(chan struct{}, 1), lateAfter: lateReadAfter}
	p.lateRead = time.AfterFunc(time.Hour, func() {
		p.lateArmed.Store(false)
		p.kickReader()
	})
	p.lateRead.Stop()
	return p
}

// kickReader tells the session's reader to look at what is owed.
func (p *Producer) kickReader() {
	select {
	case p.readKick <- struct{}{}:
	default: // a kick is pending already
	}
}

// MaxRecordBytes is the largest payload that fits one PRODUCE frame.
func (p *Producer) MaxRecordBytes() int {
	return p.o.MaxFrame - 1024 - len(p.po.Topic) - len(p.o.ClientID)
}

// Send queues one record, blocking while MaxPending records are unacknowledged.
func (p *Producer) Send(ctx context.Context, payload []byte) error {
	if err := p.checkSize(payload); err != nil {
		return err
	}
	_, err := p.SendAll(ctx, [][]byte{payload})
	return err
}

func (p *Producer) checkSize(payload []byte) error {
	if len(payload) > p.MaxRecordBytes() {
		return fmt.Errorf("%w: %d bytes, limit %d", errRecordTooLarge, len(payload), p.MaxRecordBytes())
	}
	return nil
}

// SendAll queues the records in order as Send would, each stamped with the
// time it was queued, but reading the clock, taking the lock and waking
// the sender once for as many as there is room for (the stdin feed hands
// over all the lines of one read at once). It blocks while MaxPending
// records are unacknowledged and returns how many it queued: all of them,
// or those before the error. A payload must not change until its record is
// acknowledged (Acked counts past it): then the producer has let go of it,
// and the caller may reuse its memory (the stdin feed reuses its slabs).
func (p *Producer) SendAll(ctx context.Context, payloads [][]byte) (int, error) {
	for _, payload := range payloads {
		if err := p.checkSize(payload); err != nil {
			return 0, err // checked before any is queued: all or none of them go
		}
	}
	queued := 0
	for queued < len(payloads) {
		p.mu.Lock()
		if p.fatal != nil {
			err := p.fatal
			p.mu.Unlock()
			return queued, err
		}
		if !p.pipe.Full() {
			now := p.po.Now() // once for the records queued under this lock: queued together, at this time
			for queued < len(payloads) && !p.pipe.Full() {
				p.pipe.Add(record.Record{Timestamp: now, Payload: payloads[queued]})
				queued++
			}
			p.mu.Unlock()
			if !p.sendIdle() {
				select {
				case p.wake <- struct{}{}:
				default:
				}
			}
			continue
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return queued, ctx.Err()
		}
	}
	return queued, nil
}

// Flush waits until every queued record is acknowledged. When nobody
// else reads the connection, it reads the acknowledgements itself.
func (p *Producer) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, err, ch := p.pipe.Pending(), p.fatal, p.changed
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if p.readOwn(ctx) {
			continue
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
	return p.pipe.Acked()
}

// Pending is the number of records not yet acknowledged.
func (p *Producer) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pipe.Pending()
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
	err := p.l.loop(ctx, "resending unacknowledged records", p.session, func() {
		p.mu.Lock()
		p.pipe.Reset()
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

// session runs one connection: the reader takes acks, this goroutine sends.
// The pipeline was Reset before it (Run), so it starts with nothing in
// flight and everything unacknowledged unsent.
func (p *Producer) session(ctx context.Context, conn *framed.Conn, h *health) error {
	errc := make(chan error, 1)
	readerDone := make(chan struct{})
	conn.ReuseBodies() // nothing of an acknowledgement's frame is kept
	p.readMu.Lock()
	p.rconn, p.rh, p.rerr = conn, h, nil
	p.readMu.Unlock()
	p.hbOwed.Store(0)
	go func() {
		defer close(readerDone)
		errc <- p.readLoop(conn, h)
	}()
	hbDone := make(chan struct{})
	defer func() {
		close(hbDone)
		conn.Close() // first: it unblocks a Send writing to it (sendIdle), and a Flush reading it
		p.sendMu.Lock()
		p.conn = nil // no Send writes to it once Run resets the pipeline
		p.sendMu.Unlock()
		<-readerDone
		p.readMu.Lock()
		p.rconn, p.rh = nil, nil // no Flush reads it either
		p.readMu.Unlock()
	}()
	go p.l.heartbeat(conn, hbDone, func() {
		p.hbOwed.Add(1)
		p.kickReader()
	})
	p.sendMu.Lock()
	p.conn, p.corr = conn, 0
	p.sendMu.Unlock()

	for {
		// Take the change signal before looking at the state, so a change
		// between the look and the wait still wakes us.
		p.mu.Lock()
		unsent, canSend, changed := p.pipe.Unsent(), p.pipe.CanSend(), p.changed
		p.mu.Unlock()
		if canSend {
			if unsent < p.po.MaxBatchRecords && p.po.Linger > 0 {
				select {
				case <-time.After(p.po.Linger):
				case <-ctx.Done():
					return nil
				}
			}
			if err := p.sendNext(); err != nil {
				return <-errc
			}
			continue
		}
		// Acknowledgements matter here only while records wait for room in
		// the window; with none unsent, new ones come with a wake. (Woken by
		// every acknowledgement, this goroutine cost one record at a time a
		// hand-off to it, for nothing.)
		var roomMade <-chan struct{}
		if unsent > 0 {
			roomMade = changed
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-p.wake:
		case <-roomMade:
		}
	}
}

// sendNext writes the next batch, if a Send did not take it meanwhile, and
// has the session's reader read its acknowledgement. Only the session's
// goroutine calls it, after CanSend said yes.
func (p *Producer) sendNext() error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if !p.nextBatch(false) {
		return nil
	}
	err := p.conn.SendBorrowed(wire.Frame{Type: wire.TypeProduce, Corr: p.corr, Body: p.enc})
	p.kickReader()
	return err
}

// sendIdle is Send's shortcut: when the producer is connected with nothing
// in flight (one record at a time, a slow feed), the caller writes the
// batch itself instead of waking the session's goroutine to do it — a
// hand-off that cost each such record tens of microseconds before it left.
// It does not wait for the socket (the socket takes what it can at once, the
// connection's writer the rest) unless the connection's queue is full, and
// reports whether nothing is left for the session.
func (p *Producer) sendIdle() bool {
	if !p.sendMu.TryLock() {
		return false // the session is sending: it takes these records too
	}
	defer p.sendMu.Unlock()
	if p.conn == nil || !p.nextBatch(true) {
		return false
	}
	f := wire.Frame{Type: wire.TypeProduce, Corr: p.corr, Body: p.enc}
	if !p.conn.TrySendBorrowed(f) {
		p.conn.SendBorrowed(f) // its queue is full of heartbeats: wait; a failure ends the session
	}
	// A Flush that follows reads the acknowledgement itself; if none
	// does, the session's reader takes it a moment later.
	if p.lateArmed.CompareAndSwap(false, true) {
		p.lateRead.Reset(p.lateAfter)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pipe.Unsent() == 0
}

// nextBatch encodes the body of the next PRODUCE frame, built from the
// unsent records, into p.enc, under the next correlation id; false if
// there is none to send (or, idleOnly, if a batch is in flight or the
// producer lingers). The caller holds sendMu. It encodes under mu, so
// later queue changes cannot touch the frame; into the session's buffer,
// so a batch costs no allocation (a fresh 120 KB body per batch, zeroed and
// then collected, was a fifth of a piped producer's time).
func (p *Producer) nextBatch(idleOnly bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.pipe.CanSend() || idleOnly && (p.pipe.InFlight() > 0 || p.po.Linger > 0) {
		return false
	}
	if cap(p.enc) > maxKeptBatchBuf {
		p.enc = nil
	}
	p.corr++
	b, _ := p.pipe.Next(p.corr, 0, p.po.MaxBatchRecords, p.po.MaxBatchBytes)
	m := wire.Produce{Topic: p.po.Topic, ProducerID: p.o.ClientID, Acks: 1, Records: b.Records}
	p.enc = m.AppendTo(p.enc[:0])
	return true
}

// maxKeptBatchBuf bounds the encoding buffer a session keeps between
// batches: a batch of a few huge records must not pin its size.
const maxKeptBatchBuf = 4 << 20

// readLoop is the session's reader: whenever kicked, it reads while
// something is owed (see readMu), matching PRODUCE_ACKs to the batches in
// flight, in order. It returns the error that ends the session: its own
// read's, or that of a Flush that read the connection.
func (p *Producer) readLoop(conn *framed.Conn, h *health) error {
	for {
		select {
		case <-p.readKick:
		case <-conn.Done():
		}
		p.readMu.Lock()
		err := p.rerr
		// What is already received goes too (the broker's own heartbeats
		// come unasked), so nothing piles up while nothing is owed.
		for err == nil && (p.owed() || conn.Buffered() > 0) {
			err = p.readOne(context.Background(), conn, h)
		}
		if err == nil {
			err = conn.Err() // set once the connection is closing: its cause
		}
		if err != nil && p.rerr == nil {
			p.rerr = err
		}
		p.readMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// owed says whether the broker owes the session a frame: an
// acknowledgement of a batch in flight, or a heartbeat's answer.
func (p *Producer) owed() bool {
	return p.inFlight() || p.hbOwed.Load() > 0
}

func (p *Producer) inFlight() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pipe.InFlight() > 0
}

// readOwn is Flush reading the acknowledgements it waits for itself, when
// the session is up, batches are in flight and nobody else reads: true if
// it read (then Flush looks again), false if Flush must wait instead. A
// read error ends the session (the reader returns it); the end of ctx stops
// the reading between frames and leaves what is owed to the reader.
func (p *Producer) readOwn(ctx context.Context) bool {
	if !p.readMu.TryLock() {
		return false
	}
	defer p.readMu.Unlock()
	conn, h := p.rconn, p.rh
	if conn == nil || p.rerr != nil || !p.inFlight() {
		return false
	}
	for p.inFlight() {
		p.ownReads.Add(1)
		if err := p.readOne(ctx, conn, h); err != nil {
			p.kickReader() // what is still owed is the session reader's again
			if errors.Is(err, framed.ErrInterrupted) {
				return false // ctx ended: Flush returns
			}
			p.rerr = err
			conn.Close() // the session ends with err (readLoop returns it)
			return true
		}
	}
	if p.hbOwed.Load() > 0 || conn.Buffered() > 0 {
		p.kickReader()
	}
	return true
}

// readOne reads one frame and takes it. Caller holds readMu.
func (p *Producer) readOne(ctx context.Context, conn *framed.Conn, h *health) error {
	f, err := p.l.recvContext(ctx, conn)
	if err != nil {
		return err
	}
	switch f.Type {
	case wire.TypeHeartbeat:
		p.l.noteHeartbeat(f)
		h.answered.Store(true)
		// One owed answer fewer; none owed, it was the broker's own beat.
		// (Not Add(-1) then a reset to 0: a heartbeat sent between the
		// two would be forgotten.)
		for {
			n := p.hbOwed.Load()
			if n == 0 || p.hbOwed.CompareAndSwap(n, n-1) {
				break
			}
		}
		return nil
	case wire.TypeError:
		var m wire.Error
		if err := m.Unmarshal(f.Body); err != nil {
			return err
		}
		return ackError(m.Code, m.Message, m.Redirect)
	case wire.TypeProduceAck:
	default:
		return nil
	}
	var ack wire.ProduceAck
	if err := ack.Unmarshal(f.Body); err != nil {
		return err
	}
	if ack.Code != wire.ErrNone {
		return ackError(ack.Code, ack.Message, ack.Redirect)
	}
	p.mu.Lock()
	b, err := p.pipe.Ack(f.Corr, ack.FirstSeq, int(ack.Count))
	if err == nil {
		p.notify()
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	h.progress.Store(true)
	if p.po.OnAck != nil {
		p.po.OnAck(b.FirstSeq(), len(b.Records))
	}
	return nil
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
