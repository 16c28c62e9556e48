package topiclog

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/logstream/logstream/pkg/record"
)

// Memory after appends does not grow with the number of topics: a topic
// keeps no append buffer of its own between batches (each kept up to
// keepBufBytes, so a broker with 1000 topics held most of its memory in
// them).
func TestAppendBuffersNotKeptPerTopic(t *testing.T) {
	const topics, batchBytes = 150, 400 << 10
	s := openStore(t, t.TempDir(), testOpts(t))
	defer mustClose(t, s)
	recs := make([]record.Record, batchBytes/1000)
	for i := range recs {
		recs[i] = record.Record{ProducerID: "p", Seq: uint64(i + 1), Payload: make([]byte, 1000)}
	}
	logs := make([]*Log, topics)
	for i := range logs {
		logs[i] = topic(t, s, fmt.Sprintf("t%d", i))
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // a sync.Pool keeps its items for one collection
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for _, l := range logs {
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	after := heap()
	grown := int64(after) - int64(before)
	t.Logf("heap grew %d KB after one %d KB batch on each of %d topics", grown>>10, batchBytes>>10, topics)
	if grown > topics*batchBytes/4 {
		t.Fatalf("heap grew %d KB after one %d KB batch on each of %d topics: append buffers kept per topic", grown>>10, batchBytes>>10, topics)
	}
	runtime.KeepAlive(logs)
}
