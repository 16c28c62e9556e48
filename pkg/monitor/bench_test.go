package monitor

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/wire"
)

// BenchmarkProduceAcked is what the produce path pays per batch for the
// monitor (besides one clock read and a sum of payload lengths).
func BenchmarkProduceAcked(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ProduceAcked("logs", 256, 25600, 200*time.Microsecond, wire.ErrNone)
		}
	})
}

// BenchmarkScrape is one whole /metrics request for a broker with 100
// topics, 100 consumers and 4 peers: its cost once a second is the monitor's
// share of a busy broker.
func BenchmarkScrape(b *testing.B) {
	snap := leaderSnapshot()
	snap.Meta.Topics, snap.Topics, snap.Meta.Consumers = nil, nil, nil
	m := NewMetrics()
	for i := range 100 {
		name := fmt.Sprintf("topic-%03d", i)
		snap.Meta.Topics = append(snap.Meta.Topics, wire.TopicInfo{Name: name, Owner: "11", NextOffset: 1e6, Committed: 1e6})
		snap.Topics = append(snap.Topics, broker.TopicHealth{Name: name, Owned: true, Synced: true})
		snap.Meta.Consumers = append(snap.Meta.Consumers, wire.ConsumerInfo{ConsumerID: fmt.Sprintf("c%d", i), Topic: name, Offset: 1e6})
		m.ProduceAcked(name, 10, 100, time.Millisecond, wire.ErrNone)
		m.Delivered(name, 10, 100)
	}
	for i := range 3 {
		snap.Peers = append(snap.Peers, broker.PeerHealth{ID: fmt.Sprint(30 + i), Addr: "x", Liveness: "alive", Judged: true, Phi: 1})
	}
	h := newHandler(&fakeSource{snap: snap}, m, DefaultOptions())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		io.Copy(io.Discard, rec.Body)
	}
}
