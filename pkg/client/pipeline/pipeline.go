// Package pipeline is the producer's core as a pure state machine: records
// queued in sequence order, batches in flight on the current connection,
// acknowledgements matched in order, and after a lost connection every
// unacknowledged record again, from the oldest, with the same sequence
// numbers (the broker drops what it already stored, so each record is
// stored once).
//
// Like pkg/discovery's decide and etcd raft's core it starts no goroutine,
// reads no clock and does no I/O: the caller hands it records and
// acknowledgements, takes the batches it says to send, and tells it when a
// connection is gone. pkg/client's Producer runs it over TCP (under its own
// lock); pkg/cluster's simulation runs the same code against simulated
// brokers, so the simulation exercises the real client logic.
package pipeline

import (
	"fmt"

	"github.com/logstream/logstream/pkg/record"
)

// Batch is one PRODUCE request: Records (in Seq order, aliasing the queue,
// never modified) sent under ID, the caller's correlation id or token.
type Batch struct {
	ID      uint64
	Records []record.Record
	At      int64 // when the caller sent it, as it measures time; kept for its ack timeout
}

// FirstSeq is the sequence number of the batch's first record.
func (b Batch) FirstSeq() uint64 { return b.Records[0].Seq }

// DefaultBlockRecords is the size the queue's blocks grow to when New is
// not told otherwise: a few full batches, so a block costs one allocation
// per thousands of records and a batch is rarely cut short at a block's end.
const DefaultBlockRecords = 4096

// firstBlockRecords is the size of the first block; each block after it is
// twice its predecessor's, up to the pipeline's block size. So an idle or
// slow producer holds a few KB of queue, a busy one reaches full blocks
// after a few.
const firstBlockRecords = 64

// Pipeline is one producer's state. The zero value is not ready: use New.
//
// The queue is a list of blocks that records are appended to and never
// moved from: a batch aliases the block it was cut from, and a block is
// dropped (never reused, since batches handed out may still alias it) once
// all its records are acknowledged. So queueing a record costs no copy of
// the others, however many wait, which a slice sliding forward did whenever
// it had to grow.
type Pipeline struct {
	maxPending  int
	maxInFlight int
	blockSize   int

	// blocks hold the unacknowledged records in Seq order: blocks[0][head:],
	// then the other blocks. A block is full when its length reaches its
	// capacity; only the last may be not full. The first unsent record is
	// blocks[sendBlock][sendAt] (sendAt may be the length of the last block:
	// nothing unsent).
	blocks    [][]record.Record
	head      int
	sendBlock int
	sendAt    int
	pending   int // records in the queue
	sent      int // the queue's first sent records went out on the current connection

	inflight []Batch // ring of maxInFlight: sent on the current connection, not acknowledged
	first    int     // the oldest batch in flight is inflight[first]
	nflight  int

	nextSeq uint64
	acked   uint64 // records acknowledged; with Seq from 1, also the highest Seq acknowledged
}

// New returns an empty pipeline whose first record gets Seq 1. maxPending is
// how many records may wait unacknowledged before Full says stop;
// maxInFlight how many batches may await their acknowledgement at once.
func New(maxPending, maxInFlight int) *Pipeline {
	return NewBlocks(maxPending, maxInFlight, DefaultBlockRecords)
}

// NewBlocks is New with the size the queue's blocks grow to: a batch never
// spans two blocks, so a caller that cuts batches of n records does best
// with a multiple of n.
func NewBlocks(maxPending, maxInFlight, blockRecords int) *Pipeline {
	maxInFlight = max(maxInFlight, 1)
	return &Pipeline{maxPending: max(maxPending, 1), maxInFlight: maxInFlight, blockSize: max(blockRecords, 1),
		inflight: make([]Batch, maxInFlight), nextSeq: 1}
}

// Full reports whether maxPending records are unacknowledged: the caller
// stops adding until acknowledgements make room (back-pressure).
func (p *Pipeline) Full() bool { return p.pending >= p.maxPending }

// Add queues r under the next sequence number and returns it. It does not
// check Full: the caller decides how much to add after looking.
func (p *Pipeline) Add(r record.Record) uint64 {
	r.Seq = p.nextSeq
	p.nextSeq++
	last := len(p.blocks) - 1
	if last < 0 || len(p.blocks[last]) == cap(p.blocks[last]) {
		size := firstBlockRecords
		if last >= 0 {
			size = 2 * cap(p.blocks[last])
		}
		p.blocks = append(p.blocks, make([]record.Record, 0, min(size, p.blockSize)))
		last++
	}
	p.blocks[last] = append(p.blocks[last], r) // within its capacity: never moves
	p.pending++
	return r.Seq
}

// NextSeq is the sequence number the next Add gives.
func (p *Pipeline) NextSeq() uint64 { return p.nextSeq }

// Pending is the number of records not yet acknowledged.
func (p *Pipeline) Pending() int { return p.pending }

// Unsent is the number of records not yet sent on the current connection.
func (p *Pipeline) Unsent() int { return p.pending - p.sent }

// InFlight is the number of batches awaiting their acknowledgement.
func (p *Pipeline) InFlight() int { return p.nflight }

// Acked is the number of records acknowledged so far (sequence numbers start
// at 1 and are acknowledged in order, so it is also the highest one).
func (p *Pipeline) Acked() uint64 { return p.acked }

// CanSend reports whether Next would return a batch: records are unsent and
// the pipeline has room for another batch in flight.
func (p *Pipeline) CanSend() bool { return p.Unsent() > 0 && p.nflight < p.maxInFlight }

// Oldest returns the batch in flight longest, if any (for an ack timeout).
func (p *Pipeline) Oldest() (Batch, bool) {
	if p.nflight == 0 {
		return Batch{}, false
	}
	return p.inflight[p.first], true
}

// Next takes the next batch to send under id: the oldest unsent records, at
// most maxRecords of them and, beyond the first, at most maxBytes of payload
// (each record counted with 32 bytes of framing), and never past the end of
// a block. The caller must send it (or call Reset). ok is false when
// CanSend is.
func (p *Pipeline) Next(id uint64, at int64, maxRecords, maxBytes int) (b Batch, ok bool) {
	if !p.CanSend() {
		return Batch{}, false
	}
	if blk := p.blocks[p.sendBlock]; p.sendAt == len(blk) { // a full block sent to its end: on to the next
		p.sendBlock, p.sendAt = p.sendBlock+1, 0
	}
	recs := p.blocks[p.sendBlock][p.sendAt:]
	n, bytes := 0, 0
	for n < len(recs) && n < maxRecords {
		bytes += len(recs[n].Payload) + 32
		if n > 0 && bytes > maxBytes {
			break
		}
		n++
	}
	n = max(n, 1)
	b = Batch{ID: id, Records: recs[:n:n], At: at}
	p.sent += n
	p.sendAt += n
	p.inflight[(p.first+p.nflight)%p.maxInFlight] = b
	p.nflight++
	return b, true
}

// Ack takes the acknowledgement of batch id, naming its first sequence
// number and record count. Acknowledgements come in order: anything but the
// oldest batch in flight is an error, after which the caller drops the
// connection (and calls Reset). It returns the acknowledged batch.
func (p *Pipeline) Ack(id, firstSeq uint64, count int) (Batch, error) {
	b, ok := p.Oldest()
	if !ok {
		return Batch{}, fmt.Errorf("unexpected PRODUCE_ACK (corr %d)", id)
	}
	if b.ID != id || b.FirstSeq() != firstSeq || len(b.Records) != count {
		return Batch{}, fmt.Errorf("PRODUCE_ACK out of order: got corr %d seq %d, want corr %d seq %d", id, firstSeq, b.ID, b.FirstSeq())
	}
	if oldest := p.blocks[0][p.head].Seq; oldest != firstSeq { // cannot happen: batches are cut from the queue's front in order
		return Batch{}, fmt.Errorf("pipeline: batch from seq %d acknowledged but the oldest unacknowledged is %d", firstSeq, oldest)
	}
	p.inflight[p.first] = Batch{} // let its records go with their block
	p.first = (p.first + 1) % p.maxInFlight
	p.nflight--
	p.pending -= count
	p.sent -= count
	p.acked += uint64(count)
	p.head += count
	// A batch never spans blocks, so it ends at or before its block's end.
	// A block acknowledged to its end is dropped once full; the last block,
	// not full, stays to be filled (the send cursor may point into it).
	if p.head == len(p.blocks[0]) && p.head == cap(p.blocks[0]) {
		p.blocks[0] = nil
		p.blocks = p.blocks[1:] // slides, but over one header per block, not the records
		p.head = 0
		p.sendBlock--
		if p.sendBlock < 0 { // everything sent was in it and is acknowledged
			p.sendBlock, p.sendAt = 0, 0
		}
	}
	return b, nil
}

// Reset forgets the current connection: nothing in flight on it will be
// acknowledged, and every unacknowledged record is sent again, from the
// oldest, on the next.
func (p *Pipeline) Reset() {
	p.sent = 0
	p.sendBlock, p.sendAt = 0, p.head
	clear(p.inflight)
	p.first, p.nflight = 0, 0
}
