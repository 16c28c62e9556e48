package broker

import (
	"sync"

	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// replicator decides where a topic's records go and when they count as
// committed. The single-broker implementation (localReplicator) commits on
// local append; the cluster implementation commits once a majority of the view
// stores a record.
type replicator interface {
	// Propose stores recs (de-duplicated by producer id and sequence) and calls
	// done exactly once, possibly from another goroutine, when they are
	// committed or have failed.
	Propose(topic string, producerID string, recs []record.Record, done func(wire.ProduceAck))
	// Committed returns the exclusive end of the committed prefix and a
	// channel closed when it next moves.
	Committed(topic string) (uint64, <-chan struct{})
	// Log returns the topic's log, creating the topic on first use.
	Log(topic string) (*topiclog.Log, error)
	// Owner says which broker serves topic's clients: addr is its address,
	// self whether it is this broker, known false while nobody is (an
	// election or recovery is under way).
	Owner(topic string) (addr string, self, known bool)
}

// localTopic is one topic's write side on a lone broker.
type localTopic struct {
	mu      sync.Mutex // serialises de-duplication and append
	log     *topiclog.Log
	lastSeq map[string]uint64 // producer id → highest sequence stored
	changed chan struct{}     // closed and replaced on every append
}

type localReplicator struct {
	store  *topiclog.Store
	mu     sync.Mutex
	topics map[string]*localTopic
}

func newLocalReplicator(store *topiclog.Store) *localReplicator {
	return &localReplicator{store: store, topics: map[string]*localTopic{}}
}

func (r *localReplicator) topic(name string) (*localTopic, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.topics[name]; ok {
		return t, nil
	}
	log, err := r.store.Topic(name)
	if err != nil {
		return nil, err
	}
	t := &localTopic{log: log, changed: make(chan struct{})}
	t.lastSeq, err = producerSeqs(log)
	if err != nil {
		return nil, err
	}
	r.topics[name] = t
	return t, nil
}

// producerSeqs rebuilds, from the retained log, each producer's highest
// stored sequence number, so de-duplication survives a restart.
func producerSeqs(log *topiclog.Log) (map[string]uint64, error) {
	seqs := map[string]uint64{}
	for off := log.StartOffset(); off < log.NextOffset(); {
		recs, err := log.Read(off, 4096, 4<<20)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if recs[i].Seq > seqs[recs[i].ProducerID] {
				seqs[recs[i].ProducerID] = recs[i].Seq
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return seqs, nil
}

func (r *localReplicator) Owner(string) (string, bool, bool) { return "", true, true }

func (r *localReplicator) Log(topic string) (*topiclog.Log, error) {
	t, err := r.topic(topic)
	if err != nil {
		return nil, err
	}
	return t.log, nil
}

func (r *localReplicator) Committed(topic string) (uint64, <-chan struct{}) {
	t, err := r.topic(topic)
	if err != nil {
		return 0, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.log.NextOffset(), t.changed
}

func (r *localReplicator) Propose(topic, producerID string, recs []record.Record, done func(wire.ProduceAck)) {
	ack := wire.ProduceAck{Topic: topic, Count: uint32(len(recs))}
	if len(recs) > 0 {
		ack.FirstSeq = recs[0].Seq
	}
	t, err := r.topic(topic)
	if err != nil {
		ack.Code, ack.Message = wire.ErrInternal, err.Error()
		done(ack)
		return
	}
	t.mu.Lock()
	fresh := dedupe(recs, producerID, t.lastSeq)
	ack.Duplicates = uint32(len(recs) - len(fresh))
	ack.BaseOffset = t.log.NextOffset()
	if len(fresh) > 0 {
		first, err := t.log.Append(fresh)
		if err != nil {
			t.mu.Unlock()
			ack.Code, ack.Message = wire.ErrInternal, err.Error()
			done(ack)
			return
		}
		ack.BaseOffset = first
		noteSeqs(fresh, t.lastSeq)
		close(t.changed)
		t.changed = make(chan struct{})
	}
	t.mu.Unlock()
	done(ack)
}

// dedupe fills in each record's producer id and returns the records whose
// sequence that producer has not stored yet (filtering in place). Sequence 0
// means "not numbered" and is never a duplicate. lastSeq is only read: the
// caller records the new highest sequences once the append has succeeded.
func dedupe(recs []record.Record, producerID string, lastSeq map[string]uint64) []record.Record {
	fresh := recs[:0]
	var pid string
	var last uint64
	for i := range recs {
		if recs[i].ProducerID == "" {
			recs[i].ProducerID = producerID
		}
		if i == 0 || recs[i].ProducerID != pid {
			pid = recs[i].ProducerID
			last = lastSeq[pid]
		}
		if recs[i].Seq != 0 && recs[i].Seq <= last {
			continue
		}
		last = max(last, recs[i].Seq)
		fresh = append(fresh, recs[i])
	}
	return fresh
}

// noteSeqs records the highest sequence of each producer in recs.
func noteSeqs(recs []record.Record, lastSeq map[string]uint64) {
	for i := range recs {
		if recs[i].Seq > lastSeq[recs[i].ProducerID] {
			lastSeq[recs[i].ProducerID] = recs[i].Seq
		}
	}
}
