package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/statusreport"
	"github.com/logstream/logstream/pkg/wire"
)

// fakeSource is a broker as the monitor sees it; tests change it between
// requests.
type fakeSource struct {
	mu       sync.Mutex
	snap     broker.Snapshot
	events   []broker.ClusterEvent
	health   error
	checks   atomic.Int32
	counters map[string]uint64
}

func (f *fakeSource) Snapshot() broker.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeSource) Events() []broker.ClusterEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]broker.ClusterEvent(nil), f.events...)
}

func (f *fakeSource) CheckHealth(context.Context) error {
	f.checks.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}

func (f *fakeSource) set(fn func(*fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// leaderSnapshot is the leader of a two-member view with one topic, one
// consumer and one judged peer.
func leaderSnapshot() broker.Snapshot {
	return broker.Snapshot{
		Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Meta: wire.MetadataResponse{
			NodeID: "11", Addr: "10.0.0.1:8001", LeaderID: "11", LeaderAddr: "10.0.0.1:8001", View: 4, Cluster: "00000000000000aa",
			Brokers: []wire.BrokerInfo{{ID: "11", Addr: "10.0.0.1:8001", State: "leader"}, {ID: "22", Addr: "10.0.0.2:8001", State: "alive"}},
			Topics:  []wire.TopicInfo{{Name: "logs", Owner: "11", OwnerAddr: "10.0.0.1:8001", StartOffset: 5, NextOffset: 42, Committed: 40}},
			Consumers: []wire.ConsumerInfo{
				{ConsumerID: "c1", Topic: "logs", Offset: 30, Lag: 10},
				{ConsumerID: "c1", Topic: "logs", Offset: 35, Lag: 5}, // same name twice: one series
			},
			Counters: map[string]uint64{"connections": 3, "connections_refused": 1, "discovery_joins": 2, "brand_new": 7},
			Groups: []wire.GroupInfo{{Group: "billing", Topic: "logs", Position: 25, Members: []wire.GroupMemberInfo{
				{ConsumerID: "c2#1", Addr: "10.0.0.5:40000", Leased: 7}, {ConsumerID: "c3#2", Addr: "10.0.0.6:40000", Leased: 3}}}},
		},
		Role: "leader", Member: true,
		Topics:      []broker.TopicHealth{{Name: "logs", Owned: true, Synced: true}},
		Peers:       []broker.PeerHealth{{ID: "22", Addr: "10.0.0.2:8001", Liveness: "alive", Judged: true, HeartbeatAge: 1500 * time.Millisecond, Phi: 0.7}},
		ViewChanges: 4, LeaderChanges: 1,
	}
}

func newTestServer(t *testing.T, src *fakeSource, opts Options) (*httptest.Server, *Metrics) {
	t.Helper()
	m := NewMetrics()
	ts := httptest.NewServer(newHandler(src, m, opts))
	t.Cleanup(ts.Close)
	return ts, m
}

func get(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestHealthz(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	opts := DefaultOptions()
	opts.HealthCache = time.Hour // the verdict is reused: one check only
	ts, _ := newTestServer(t, src, opts)
	for range 3 {
		if code, body, _ := get(t, ts.URL+"/healthz", ""); code != 200 || body != "ok\n" {
			t.Fatalf("/healthz = %d %q, want 200 ok", code, body)
		}
	}
	if n := src.checks.Load(); n != 1 {
		t.Fatalf("health checked %d times within the cache time, want 1", n)
	}

	src.set(func(f *fakeSource) { f.health = errors.New("data directory not writable: read-only file system") })
	opts.HealthCache = 0
	ts2, _ := newTestServer(t, src, opts)
	code, body, _ := get(t, ts2.URL+"/healthz", "")
	if code != 503 || !strings.Contains(body, "not writable") {
		t.Fatalf("/healthz with a failing check = %d %q, want 503 naming the cause", code, body)
	}
}

func TestReadyzFlipsDuringViewChange(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	ts, _ := newTestServer(t, src, DefaultOptions())
	want := func(code int, words string) {
		t.Helper()
		c, body, _ := get(t, ts.URL+"/readyz", "")
		if c != code || !strings.Contains(body, words) {
			t.Fatalf("/readyz = %d %q, want %d containing %q", c, body, code, words)
		}
	}
	want(200, "ready: member of active view 4 as leader")
	// A view change starts: the broker freezes (candidate, no commits).
	src.set(func(f *fakeSource) { f.snap.Role, f.snap.Frozen = "candidate", true })
	want(503, "view change in progress")
	// The new view is installed but a topic is still catching up.
	src.set(func(f *fakeSource) {
		f.snap.Role, f.snap.Frozen, f.snap.Meta.View = "follower", false, 5
		f.snap.Topics = []broker.TopicHealth{{Name: "logs", Synced: false}}
	})
	want(503, "topic logs not caught up")
	src.set(func(f *fakeSource) { f.snap.Topics[0].Synced = true })
	want(200, "member of active view 5 as follower")
	// Not a member at all (joining, or removed from the view).
	src.set(func(f *fakeSource) { f.snap.Role, f.snap.Member = "joining", false })
	want(503, "not a member")
}

func TestStatusIsCtlStatusJSON(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	ts, _ := newTestServer(t, src, DefaultOptions())
	code, body, hdr := get(t, ts.URL+"/status", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("/status = %d %s", code, hdr.Get("Content-Type"))
	}
	var got statusreport.Report
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("/status is not a status report: %v\n%s", err, body)
	}
	snap := src.Snapshot()
	want := statusreport.OfBroker(&snap.Meta, snap.Time)
	wb, _ := json.MarshalIndent(want, "", "  ")
	if strings.TrimSpace(body) != string(wb) {
		t.Fatalf("/status differs from logstreamctl status --json:\n got %s\nwant %s", body, wb)
	}
	if got.Cluster == nil || got.Cluster.LeaderID != "11" || len(got.Cluster.Members) != 2 || got.Cluster.Topics[0].Committed != 40 {
		t.Fatalf("/status cluster = %+v", got.Cluster)
	}
}

func TestTokenGuardsAllButProbes(t *testing.T) {
	key, err := wire.NewKey([]byte("0123456789abcdef-secret"))
	if err != nil {
		t.Fatal(err)
	}
	tok := key.MonitorToken()
	if len(tok) != 64 || tok == "0123456789abcdef-secret" {
		t.Fatalf("token %q: want 64 hex digits, not the key", tok)
	}
	opts := DefaultOptions()
	opts.Token, opts.Pprof = tok, true
	src := &fakeSource{snap: leaderSnapshot()}
	ts, _ := newTestServer(t, src, opts)
	for _, p := range []string{"/metrics", "/status", "/events", "/debug/pprof/"} {
		code, _, hdr := get(t, ts.URL+p, "")
		if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s without token = %d, want 401 with WWW-Authenticate", p, code)
		}
		if code, _, _ := get(t, ts.URL+p, "wrong"); code != 401 {
			t.Errorf("%s with a wrong token = %d, want 401", p, code)
		}
		if code, _, _ := get(t, ts.URL+p, tok); code != 200 {
			t.Errorf("%s with the token = %d, want 200", p, code)
		}
	}
	// Probes and the page answer anyone; the reasons only the token holder.
	if code, body, _ := get(t, ts.URL+"/readyz", ""); code != 200 || body != "ready\n" {
		t.Errorf("/readyz without token = %d %q, want 200 \"ready\" without details", code, body)
	}
	if code, body, _ := get(t, ts.URL+"/readyz", tok); code != 200 || !strings.Contains(body, "view 4") {
		t.Errorf("/readyz with token = %d %q, want the reason", code, body)
	}
	if code, _, _ := get(t, ts.URL+"/healthz", ""); code != 200 {
		t.Errorf("/healthz without token = %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/", ""); code != 200 {
		t.Errorf("/ without token = %d", code)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	ts, _ := newTestServer(t, src, DefaultOptions())
	if code, _, _ := get(t, ts.URL+"/debug/pprof/", ""); code != 404 {
		t.Fatalf("/debug/pprof/ without --monitor-pprof = %d, want 404", code)
	}
	opts := DefaultOptions()
	opts.Pprof = true
	ts2, _ := newTestServer(t, src, opts)
	if code, body, _ := get(t, ts2.URL+"/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ with --monitor-pprof = %d", code)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	ts, _ := newTestServer(t, src, DefaultOptions())
	resp, err := http.Post(ts.URL+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /metrics = %d, want 405", resp.StatusCode)
	}
	if code, _, _ := get(t, ts.URL+"/nothing-here", ""); code != 404 {
		t.Fatalf("/nothing-here = %d, want 404", code)
	}
	code, body, hdr := get(t, ts.URL+"/", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html") {
		t.Fatalf("/ = %d %s", code, hdr.Get("Content-Type"))
	}
	if len(dashboardPage) > 200<<10 {
		t.Fatalf("dashboard page is %d bytes, want under 200 KB", len(dashboardPage))
	}
	for _, external := range []string{"http://", "https://", "//cdn", "@import"} {
		if bytes.Contains(dashboardPage, []byte(external)) {
			t.Errorf("dashboard page refers to something outside itself (%q): it must work with no internet", external)
		}
	}
}

func TestEvents(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	src.snap.Peers = append(src.snap.Peers, broker.PeerHealth{ID: "33", Addr: "10.0.0.3:8001", Liveness: "failed", Judged: true, HeartbeatAge: time.Minute, Phi: math.Inf(1)})
	src.events = []broker.ClusterEvent{{Time: src.snap.Time, Kind: "view", View: 4, Text: "VIEW_INSTALL view 4"}}
	ts, _ := newTestServer(t, src, DefaultOptions())
	code, body, _ := get(t, ts.URL+"/events", "")
	if code != 200 {
		t.Fatalf("/events = %d", code)
	}
	var rep eventsReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/events: %v\n%s", err, body)
	}
	if !rep.Ready || rep.Role != "leader" || len(rep.Events) != 1 || len(rep.Peers) != 2 {
		t.Fatalf("/events = %+v", rep)
	}
	if rep.Peers[0].Phi == nil || *rep.Peers[0].Phi != 0.7 || rep.Peers[1].Phi != nil || *rep.Peers[1].HeartbeatAgeSeconds != 60 {
		t.Fatalf("/events peers = %+v %+v (an infinite phi must be left out, not break the JSON)", rep.Peers[0], rep.Peers[1])
	}
}

// scrape parses /metrics with the Prometheus text parser.
func scrape(t *testing.T, url, token string) map[string]*familyT {
	t.Helper()
	code, body, _ := get(t, url+"/metrics", token)
	if code != 200 {
		t.Fatalf("/metrics = %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include want.
func value(t *testing.T, fams map[string]*familyT, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range f.GetMetric() {
		match := true
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s has no series with labels %v", name, want)
	return 0
}

func TestMetricsValues(t *testing.T) {
	src := &fakeSource{snap: leaderSnapshot()}
	ts, m := newTestServer(t, src, DefaultOptions())
	m.ProduceAcked("logs", 10, 1000, 300*time.Microsecond, wire.ErrNone)
	m.ProduceAcked("logs", 0, 0, time.Millisecond, wire.ErrNotOwner)
	m.Delivered("logs", 4, 400)
	m.Recovered(250*time.Millisecond, true)
	m.Recovered(40*time.Millisecond, false)
	m.Detected("owner", "failed", 2100*time.Millisecond)

	fams := scrape(t, ts.URL, "")
	topic := map[string]string{"topic": "logs"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"logstream_topic_records_in_total", topic, 10},
		{"logstream_topic_bytes_in_total", topic, 1000},
		{"logstream_topic_records_out_total", topic, 4},
		{"logstream_topic_bytes_out_total", topic, 400},
		{"logstream_topic_log_start_offset", topic, 5},
		{"logstream_topic_log_end_offset", topic, 42},
		{"logstream_topic_committed_offset", topic, 40},
		{"logstream_topic_owned", topic, 1},
		{"logstream_topic_synced", topic, 1},
		{"logstream_topic_retention_trimmed_records_total", topic, 0},
		{"logstream_consumer_lag_records", map[string]string{"consumer": "c1", "topic": "logs"}, 10},
		{"logstream_group_members", map[string]string{"group": "billing", "topic": "logs"}, 2},
		{"logstream_group_position", map[string]string{"group": "billing", "topic": "logs"}, 25},
		{"logstream_group_lag_records", map[string]string{"group": "billing", "topic": "logs"}, 15},
		{"logstream_group_leased_records", map[string]string{"group": "billing", "topic": "logs"}, 10},
		{"logstream_peer_heartbeat_age_seconds", map[string]string{"peer": "22"}, 1.5},
		{"logstream_peer_phi", map[string]string{"peer": "22"}, 0.7},
		{"logstream_peer_state", map[string]string{"peer": "22", "state": "alive"}, 1},
		{"logstream_peer_state", map[string]string{"peer": "22", "state": "failed"}, 0},
		{"logstream_produce_ack_latency_seconds", nil, 1}, // refusals are not latencies
		{"logstream_produce_errors_total", map[string]string{"code": "NOT_OWNER"}, 1},
		{"logstream_recovery_duration_seconds", nil, 2},
		{"logstream_election_duration_seconds", nil, 1},
		{"logstream_failure_detection_silence_seconds", map[string]string{"role": "owner", "verdict": "failed"}, 1},
		{"logstream_view_number", nil, 4},
		{"logstream_view_members", nil, 2},
		{"logstream_is_leader", nil, 1},
		{"logstream_role", map[string]string{"role": "leader"}, 1},
		{"logstream_role", map[string]string{"role": "follower"}, 0},
		{"logstream_ready", nil, 1},
		{"logstream_view_changes_total", nil, 4},
		{"logstream_leader_changes_total", nil, 1},
		{"logstream_connections_refused_total", nil, 1},
		{"logstream_discovery_joins_total", nil, 2},
		{"logstream_brand_new_total", nil, 7}, // a counter added later is still exported
		{"logstream_broker_info", map[string]string{"node_id": "11", "cluster": "00000000000000aa"}, 1},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing (go_goroutines)")
	}

	// Retention moves the start offset: the trimmed counter follows.
	src.set(func(f *fakeSource) { f.snap.Meta.Topics[0].StartOffset = 12 })
	fams = scrape(t, ts.URL, "")
	if got := value(t, fams, "logstream_topic_retention_trimmed_records_total", topic); got != 7 {
		t.Fatalf("trimmed after the start moved 5 → 12 = %v, want 7", got)
	}
}

// TestDocumentedMetrics checks that every logstream_ metric README names is
// exported, and that every exported one is in README.
func TestDocumentedMetrics(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(readme, []byte("## Monitoring"))
	if i < 0 {
		t.Fatal("README has no Monitoring section")
	}
	section := readme[i:]
	if j := bytes.Index(section[3:], []byte("\n## ")); j >= 0 {
		section = section[:j+3]
	}
	documented := map[string]bool{}
	for _, n := range regexp.MustCompile("`(logstream_[a-z_]+)`").FindAllSubmatch(section, -1) {
		documented[string(n[1])] = true
	}
	if len(documented) < 40 {
		t.Fatalf("README documents only %d logstream_ metrics", len(documented))
	}

	src := &fakeSource{snap: leaderSnapshot()}
	counters := map[string]uint64{}
	for k := range counterHelp {
		counters[k] = 1
	}
	src.snap.Meta.Counters = counters
	ts, m := newTestServer(t, src, DefaultOptions())
	m.ProduceAcked("logs", 1, 1, time.Millisecond, wire.ErrNone)
	m.ProduceAcked("logs", 0, 0, time.Millisecond, wire.ErrBusy)
	m.Delivered("logs", 1, 1)
	m.Detected("leader", "failed", time.Second)
	fams := scrape(t, ts.URL, "")
	var missing, undocumented []string
	for name := range documented {
		if name == "logstream_NAME_total" {
			continue
		}
		if _, ok := fams[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "logstream_") && !documented[name] {
			undocumented = append(undocumented, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(undocumented)
	if len(missing) > 0 {
		t.Errorf("documented in README but not exported: %v", missing)
	}
	if len(undocumented) > 0 {
		t.Errorf("exported but not in README: %v", undocumented)
	}
}

func TestCounterMetricName(t *testing.T) {
	for in, want := range map[string]string{
		"connections":         "logstream_connections_total",
		"discovery_joins":     "logstream_discovery_joins_total",
		"odd-Name.with space": "logstream_odd__ame_with_space_total",
	} {
		if got := counterMetricName(in); got != want {
			t.Errorf("counterMetricName(%q) = %q, want %q", in, got, want)
		}
	}
}

type familyT = dto.MetricFamily
