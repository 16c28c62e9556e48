package monitor

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/wire"
)

// Histogram buckets, in seconds.
var (
	// ackBuckets: 50 µs (one broker, loopback) to about 1.6 s (a view change).
	ackBuckets = prometheus.ExponentialBuckets(50e-6, 2, 16)
	// recoveryBuckets: 10 ms to about 82 s (failure timeouts are seconds).
	recoveryBuckets = prometheus.ExponentialBuckets(0.01, 2, 14)
)

// Metrics is the broker.Observer of a monitored broker: it takes the few
// measurements snapshots cannot give, cheaply (atomics, no locks on the
// produce and consume paths but a sync.Map read of the topic).
type Metrics struct {
	topics        sync.Map // topic name → *traffic
	ackLatency    prometheus.Histogram
	produceErrors *prometheus.CounterVec
	recovery      prometheus.Histogram
	election      prometheus.Histogram
	detection     *prometheus.HistogramVec
}

// traffic is one topic's records and payload bytes in (acknowledged to
// producers of this broker) and out (sent to its consumers).
type traffic struct {
	recordsIn, bytesIn, recordsOut, bytesOut atomic.Uint64
}

var _ broker.Observer = (*Metrics)(nil)

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logstream_produce_ack_latency_seconds",
			Help:    "Time from handing a PRODUCE batch to replication to its successful acknowledgement (stored by a majority).",
			Buckets: ackBuckets,
		}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logstream_produce_errors_total",
			Help: "PRODUCE batches answered with an error, by error code.",
		}, []string{"code"}),
		detection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logstream_failure_detection_silence_seconds",
			Help:    "Silence of a peer when this broker judged it failed (or timed it out of the view), by the part it played (leader, owner, member) and the verdict (failed, timed out).",
			Buckets: recoveryBuckets,
		}, []string{"role", "verdict"}),
		recovery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logstream_recovery_duration_seconds",
			Help:    "How long each view change kept this broker frozen (no commits) until the new view was active; sampled every 20 ms tick.",
			Buckets: recoveryBuckets,
		}),
		election: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logstream_election_duration_seconds",
			Help:    "The recoveries that brought a new leader (an election): freeze to active view.",
			Buckets: recoveryBuckets,
		}),
	}
}

func (m *Metrics) topic(name string) *traffic {
	if t, ok := m.topics.Load(name); ok {
		return t.(*traffic)
	}
	t, _ := m.topics.LoadOrStore(name, &traffic{})
	return t.(*traffic)
}

// ProduceAcked implements broker.Observer.
func (m *Metrics) ProduceAcked(topic string, records, bytes int, latency time.Duration, code wire.ErrCode) {
	if code != wire.ErrNone {
		m.produceErrors.WithLabelValues(code.String()).Inc()
		return
	}
	m.ackLatency.Observe(latency.Seconds())
	if records > 0 {
		t := m.topic(topic)
		t.recordsIn.Add(uint64(records))
		t.bytesIn.Add(uint64(bytes))
	}
}

// Delivered implements broker.Observer.
func (m *Metrics) Delivered(topic string, records, bytes int) {
	t := m.topic(topic)
	t.recordsOut.Add(uint64(records))
	t.bytesOut.Add(uint64(bytes))
}

// Detected implements broker.Observer.
func (m *Metrics) Detected(role, verdict string, silent time.Duration) {
	m.detection.WithLabelValues(role, verdict).Observe(silent.Seconds())
}

// Recovered implements broker.Observer.
func (m *Metrics) Recovered(d time.Duration, newLeader bool) {
	m.recovery.Observe(d.Seconds())
	if newLeader {
		m.election.Observe(d.Seconds())
	}
}

// Registry returns a registry with the broker's metrics (read from src at
// each scrape), m's and the Go runtime's and process's.
func (m *Metrics) Registry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ackLatency, m.produceErrors, m.recovery, m.election, m.detection,
		&snapshotCollector{src: src, m: m, lastStart: map[string]uint64{}, trimmed: map[string]uint64{}},
	)
	return reg
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics read from broker.Snapshot at each scrape. Documented in README
// (TestDocumentedMetrics checks every name there is exported).
var (
	dInfo          = desc("logstream_broker_info", "This broker: node id, advertised address and cluster identity (value 1).", "node_id", "addr", "cluster")
	dView          = desc("logstream_view_number", "Number of the view this broker has installed.")
	dMembers       = desc("logstream_view_members", "Members of the installed view.")
	dLeader        = desc("logstream_is_leader", "1 if this broker leads the installed view.")
	dRole          = desc("logstream_role", "This broker's role (1 for the current one).", "role")
	dFrozen        = desc("logstream_frozen", "1 while this broker cannot commit: view change in progress or view not yet active.")
	dReady         = desc("logstream_ready", "1 when /readyz answers 200: member of an active view, every topic caught up.")
	dConns         = desc("logstream_open_connections", "Client and broker connections open now.")
	dViewChanges   = desc("logstream_view_changes_total", "Views installed by this broker since it started.")
	dLeaderChanges = desc("logstream_leader_changes_total", "Installed views that brought a new leader.")

	dRecordsIn  = desc("logstream_topic_records_in_total", "New records of the topic acknowledged to producers by this broker.", "topic")
	dBytesIn    = desc("logstream_topic_bytes_in_total", "Payload bytes of those records.", "topic")
	dRecordsOut = desc("logstream_topic_records_out_total", "Records of the topic sent to consumers by this broker.", "topic")
	dBytesOut   = desc("logstream_topic_bytes_out_total", "Payload bytes of those records.", "topic")
	dStart      = desc("logstream_topic_log_start_offset", "Oldest offset the topic's log still holds here (moves up with retention).", "topic")
	dEnd        = desc("logstream_topic_log_end_offset", "Next offset of the topic's log here.", "topic")
	dCommitted  = desc("logstream_topic_committed_offset", "End of the topic's committed prefix as this broker knows it.", "topic")
	dTrimmed    = desc("logstream_topic_retention_trimmed_records_total", "Records the log start offset moved past since this broker started (retention, or a replica skipping what its source no longer holds).", "topic")
	dOwned      = desc("logstream_topic_owned", "1 if this broker owns the topic.", "topic")
	dSynced     = desc("logstream_topic_synced", "1 if this broker's log of the topic is caught up with the view's agreed log.", "topic")

	dLag    = desc("logstream_consumer_lag_records", "Committed records a consumer of this broker has not yet been sent.", "consumer", "topic")
	dOffset = desc("logstream_consumer_offset", "Next offset a consumer of this broker will be sent.", "consumer", "topic")

	dGroupMembers  = desc("logstream_group_members", "Live members of a shared consumer group on a topic this broker owns (the group's coordinator).", "group", "topic")
	dGroupPosition = desc("logstream_group_position", "The group's position: end of the prefix of the topic its members acknowledged.", "group", "topic")
	dGroupLag      = desc("logstream_group_lag_records", "Committed records of the topic after the group's position.", "group", "topic")
	dGroupLeased   = desc("logstream_group_leased_records", "Records handed to the group's members and not yet acknowledged.", "group", "topic")

	dPeerAge   = desc("logstream_peer_heartbeat_age_seconds", "Silence since the last message from a member, when this broker last judged it (the leader judges every member, a follower its leader).", "peer", "addr")
	dPeerPhi   = desc("logstream_peer_phi", "Phi-accrual suspicion of a member when last judged.", "peer", "addr")
	dPeerState = desc("logstream_peer_state", "How this broker judges a member (1 for the current state).", "peer", "addr", "state")
)

// counterHelp explains each counter of `logstreamctl status`; each is
// exported as logstream_KEY_total. A counter added later without an entry
// here is still exported, with a generic help.
var counterHelp = map[string]string{
	"connections":              "Connections accepted.",
	"bad_frames":               "Frames that could not be decoded.",
	"records_produced":         "Records stored for producers (duplicates excluded).",
	"duplicates_dropped":       "Records a producer resent that were already stored.",
	"records_delivered":        "Records sent to consumers.",
	"subscriptions":            "Consumer subscriptions opened.",
	"client_timeouts":          "Connections dropped after CLIENT_TIMEOUT of silence.",
	"auth_failures":            "TCP frames refused for their cluster-key tag.",
	"connections_refused":      "Connections refused over MAX_CONNECTIONS or MAX_CONNECTIONS_PER_IP.",
	"handshake_timeouts":       "Connections that sent no whole frame within HANDSHAKE_TIMEOUT.",
	"produce_backpressure":     "Times a producer's connection stopped being read (MAX_INFLIGHT_RECORDS).",
	"produce_too_many_records": "PRODUCE frames over the records-per-frame bound.",
	"wrong_state_frames":       "Valid frames refused where they came from.",
	"slow_clients_dropped":     "Clients cut off for not reading (queued-frames bound).",
	"multicast_bad":            "Multicast datagrams that are not frames.",
	"multicast_auth_failures":  "Multicast datagrams refused for their cluster-key tag.",
	"multicast_replayed":       "Multicast datagrams seen before (replay window).",
	"log_lines_dropped":        "Repeated cluster log lines discarded (20 per 10 s bound).",
	"produce_parked":           "PRODUCE batches held through a view change and proposed again, instead of refused BUSY.",
	"damaged_ranges":           "Damaged stored ranges found (repaired from a replica, or cut out and reported; see logstreamctl status).",
	"discovery_datagrams":      "Discovery datagrams received.",
	"discovery_answered":       "Discovery requests answered.",
	"discovery_joins":          "JOIN requests received by discovery.",
	"discovery_malformed":      "Discovery datagrams that could not be decoded.",
	"discovery_wrong_type":     "Discovery datagrams of a type discovery does not take.",
	"discovery_unauthorized":   "Discovery datagrams refused for their cluster-key tag.",
	"discovery_replayed":       "Discovery datagrams seen before (replay window).",
	"discovery_rate_limited":   "JOIN answers withheld by the 20/s per source, 1000/s in all bound.",
	"discovery_refused":        "Discovery requests refused.",
	"discovery_ignored":        "Discovery datagrams ignored (our own, another cluster's).",
	"discovery_send_errors":    "Discovery answers that could not be sent.",
}

// counterMetricName is the metric of a `logstreamctl status` counter.
func counterMetricName(key string) string {
	var b strings.Builder
	b.WriteString("logstream_")
	for _, r := range key {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("_total")
	return b.String()
}

// snapshotCollector turns a broker.Snapshot into metrics at each scrape:
// nothing is counted twice and the broker keeps no extra state for it. It
// describes nothing up front (an unchecked collector) because the status
// counters are whatever the broker reports.
type snapshotCollector struct {
	src Source
	m   *Metrics

	mu        sync.Mutex
	lastStart map[string]uint64
	trimmed   map[string]uint64
}

func (c *snapshotCollector) Describe(chan<- *prometheus.Desc) {}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	meta := &s.Meta
	gauge(ch, dInfo, 1, meta.NodeID, meta.Addr, meta.Cluster)
	gauge(ch, dView, float64(meta.View))
	gauge(ch, dMembers, float64(len(meta.Brokers)))
	gauge(ch, dLeader, b2f(meta.NodeID != "" && meta.NodeID == meta.LeaderID))
	for _, r := range []string{"joining", "follower", "candidate", "leader"} {
		gauge(ch, dRole, b2f(s.Role == r), r)
	}
	gauge(ch, dFrozen, b2f(s.Frozen))
	ready, _ := s.Ready()
	gauge(ch, dReady, b2f(ready))
	gauge(ch, dConns, float64(s.OpenConnections))
	counter(ch, dViewChanges, float64(s.ViewChanges))
	counter(ch, dLeaderChanges, float64(s.LeaderChanges))

	health := map[string]broker.TopicHealth{}
	for _, t := range s.Topics {
		health[t.Name] = t
	}
	c.mu.Lock()
	for _, t := range meta.Topics {
		gauge(ch, dStart, float64(t.StartOffset), t.Name)
		gauge(ch, dEnd, float64(t.NextOffset), t.Name)
		gauge(ch, dCommitted, float64(t.Committed), t.Name)
		last, seen := c.lastStart[t.Name]
		if seen && t.StartOffset > last {
			c.trimmed[t.Name] += t.StartOffset - last
		}
		if !seen || t.StartOffset > last {
			c.lastStart[t.Name] = t.StartOffset
		}
		counter(ch, dTrimmed, float64(c.trimmed[t.Name]), t.Name)
		h := health[t.Name]
		gauge(ch, dOwned, b2f(h.Owned), t.Name)
		gauge(ch, dSynced, b2f(h.Synced), t.Name)
	}
	c.mu.Unlock()
	c.m.topics.Range(func(k, v any) bool {
		name, t := k.(string), v.(*traffic)
		counter(ch, dRecordsIn, float64(t.recordsIn.Load()), name)
		counter(ch, dBytesIn, float64(t.bytesIn.Load()), name)
		counter(ch, dRecordsOut, float64(t.recordsOut.Load()), name)
		counter(ch, dBytesOut, float64(t.bytesOut.Load()), name)
		return true
	})
	// Two subscriptions may share a consumer id and topic (two processes of
	// one name): one series each, the one furthest behind.
	type ct struct{ consumer, topic string }
	worst := map[ct]wire.ConsumerInfo{}
	for _, cs := range meta.Consumers {
		k := ct{cs.ConsumerID, cs.Topic}
		if w, ok := worst[k]; !ok || cs.Lag > w.Lag {
			worst[k] = cs
		}
	}
	for k, cs := range worst {
		gauge(ch, dLag, float64(cs.Lag), k.consumer, k.topic)
		gauge(ch, dOffset, float64(cs.Offset), k.consumer, k.topic)
	}
	committed := map[string]uint64{}
	for _, t := range meta.Topics {
		committed[t.Name] = t.Committed
	}
	for _, g := range meta.Groups {
		var leased uint64
		for _, m := range g.Members {
			leased += m.Leased
		}
		gauge(ch, dGroupMembers, float64(len(g.Members)), g.Group, g.Topic)
		gauge(ch, dGroupPosition, float64(g.Position), g.Group, g.Topic)
		gauge(ch, dGroupLag, float64(committed[g.Topic]-min(g.Position, committed[g.Topic])), g.Group, g.Topic)
		gauge(ch, dGroupLeased, float64(leased), g.Group, g.Topic)
	}
	for _, p := range s.Peers {
		for _, st := range []string{"alive", "suspected", "failed"} {
			gauge(ch, dPeerState, b2f(p.Liveness == st), p.ID, p.Addr, st)
		}
		if p.Judged {
			gauge(ch, dPeerAge, p.HeartbeatAge.Seconds(), p.ID, p.Addr)
			phi := p.Phi
			if math.IsNaN(phi) {
				phi = 0
			}
			gauge(ch, dPeerPhi, phi, p.ID, p.Addr)
		}
	}
	for k, v := range meta.Counters {
		help, ok := counterHelp[k]
		if !ok {
			help = "Status counter " + k + " (see logstreamctl status)."
		}
		counter(ch, desc(counterMetricName(k), help), float64(v))
	}
}
