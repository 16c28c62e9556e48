package broker

import (
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// replicator decides where a topic's records go and when they count as
// committed: clusterRepl, which commits once a majority of the view stores a
// record (a lone broker is a cluster of one). Connections see only this
// interface.
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
