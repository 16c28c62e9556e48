package analytics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// t0 is an arbitrary wall-clock origin; every test builds its times from it.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus ms milliseconds.
func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

type add struct {
	ms       int64
	producer string
	bytes    int
}

func TestWindowTable(t *testing.T) {
	// All cases use a 10 s window of 10 one-second buckets, with bucket
	// boundaries on whole seconds after the first time seen (t0).
	tests := []struct {
		name    string
		adds    []add
		snapAt  int64
		total   uint64
		count   uint64
		buckets []uint32
		per     []ProducerCount
	}{
		{
			name:    "empty",
			snapAt:  0,
			buckets: make([]uint32, 10),
		},
		{
			name:    "one record",
			adds:    []add{{0, "p1", 10}},
			snapAt:  0,
			total:   1,
			count:   1,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			per:     []ProducerCount{{"p1", 1}},
		},
		{
			name:    "records spread over buckets",
			adds:    []add{{0, "p1", 1}, {1500, "p1", 1}, {1700, "p2", 1}, {9900, "p2", 1}, {9950, "p2", 1}},
			snapAt:  9999,
			total:   5,
			count:   5,
			buckets: []uint32{1, 2, 0, 0, 0, 0, 0, 0, 0, 2},
			per:     []ProducerCount{{"p2", 3}, {"p1", 2}},
		},
		{
			name:    "rotation expires the oldest bucket",
			adds:    []add{{0, "p1", 1}, {1500, "p1", 1}, {1700, "p2", 1}, {9900, "p2", 1}},
			snapAt:  10_000, // bucket 10 opens, bucket 0 leaves
			total:   4,
			count:   3,
			buckets: []uint32{2, 0, 0, 0, 0, 0, 0, 0, 1, 0},
			per:     []ProducerCount{{"p2", 2}, {"p1", 1}},
		},
		{
			name:    "rotation by add",
			adds:    []add{{0, "p1", 1}, {500, "p1", 1}, {3000, "p2", 1}, {12_100, "p3", 1}},
			snapAt:  12_200, // window is buckets 3..12
			total:   4,
			count:   2,
			buckets: []uint32{1, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			per:     []ProducerCount{{"p2", 1}, {"p3", 1}},
		},
		{
			name:    "gap longer than the window clears all",
			adds:    []add{{0, "p1", 1}, {5000, "p1", 1}, {60_000, "p2", 1}},
			snapAt:  60_000,
			total:   3,
			count:   1,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			per:     []ProducerCount{{"p2", 1}},
		},
		{
			name:    "gap of exactly the window clears all",
			adds:    []add{{0, "p1", 1}, {9999, "p1", 1}, {19_999, "p2", 1}},
			snapAt:  19_999,
			total:   3,
			count:   1,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			per:     []ProducerCount{{"p2", 1}},
		},
		{
			name:    "snapshot after silence is empty",
			adds:    []add{{0, "p1", 1}, {1000, "p1", 1}},
			snapAt:  3_600_000,
			total:   2,
			buckets: make([]uint32, 10),
		},
		{
			name:    "backwards within the window lands in the older bucket",
			adds:    []add{{5000, "p1", 1}, {5100, "p2", 1}, {3200, "p1", 1}, {3300, "p1", 1}, {5200, "p1", 1}},
			snapAt:  5300,
			total:   5,
			count:   5,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 2, 0, 3},
			per:     []ProducerCount{{"p1", 4}, {"p2", 1}},
		},
		{
			name:    "backwards past the window restarts it",
			adds:    []add{{100_000, "p1", 1}, {100_500, "p1", 1}, {50_000, "p2", 1}},
			snapAt:  50_000,
			total:   3,
			count:   1,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			per:     []ProducerCount{{"p2", 1}},
		},
		{
			name:    "snapshot earlier than the newest record keeps the window",
			adds:    []add{{0, "p1", 1}, {8000, "p1", 1}},
			snapAt:  2000,
			total:   2,
			count:   2,
			buckets: []uint32{0, 1, 0, 0, 0, 0, 0, 0, 0, 1},
			per:     []ProducerCount{{"p1", 2}},
		},
		{
			name:    "times before the first record",
			adds:    []add{{0, "p1", 1}, {-1, "p1", 1}, {-1000, "p1", 1}, {-1001, "p2", 1}},
			snapAt:  0,
			total:   4,
			count:   4,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 1, 2, 1},
			per:     []ProducerCount{{"p1", 3}, {"p2", 1}},
		},
		{
			name:    "ties sort by id",
			adds:    []add{{0, "b", 1}, {0, "c", 1}, {0, "a", 1}, {0, "c", 1}},
			snapAt:  0,
			total:   4,
			count:   4,
			buckets: []uint32{0, 0, 0, 0, 0, 0, 0, 0, 0, 4},
			per:     []ProducerCount{{"c", 2}, {"a", 1}, {"b", 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(10*time.Second, 10)
			for _, a := range tt.adds {
				w.Add(at(a.ms), a.producer, a.bytes)
			}
			s := w.Snapshot(at(tt.snapAt))
			if s.Total != tt.total || s.WindowCount != tt.count {
				t.Errorf("Total, WindowCount = %d, %d; want %d, %d", s.Total, s.WindowCount, tt.total, tt.count)
			}
			if !reflect.DeepEqual(s.Buckets, tt.buckets) {
				t.Errorf("Buckets = %v; want %v", s.Buckets, tt.buckets)
			}
			if len(s.PerProducer) != 0 || len(tt.per) != 0 {
				if !reflect.DeepEqual(s.PerProducer, tt.per) {
					t.Errorf("PerProducer = %v; want %v", s.PerProducer, tt.per)
				}
			}
			checkInvariants(t, w, s)
		})
	}
}

// checkInvariants asserts what must hold after any sequence of calls.
func checkInvariants(t *testing.T, w *Window, s Snapshot) {
	t.Helper()
	var sumB, sumP uint64
	for _, c := range s.Buckets {
		sumB += uint64(c)
	}
	for _, p := range s.PerProducer {
		sumP += p.Count
	}
	if sumB != s.WindowCount || sumP != s.WindowCount {
		t.Fatalf("bucket sum %d, producer sum %d, WindowCount %d differ", sumB, sumP, s.WindowCount)
	}
	if s.WindowCount > s.Total {
		t.Fatalf("WindowCount %d > Total %d", s.WindowCount, s.Total)
	}
	if len(s.PerProducer) > maxProducers+1 || len(w.producers.index) > maxProducers {
		t.Fatalf("%d producers reported, %d tracked", len(s.PerProducer), len(w.producers.index))
	}
	for i, b := range w.buckets {
		if len(b.entries) > maxProducers+1 {
			t.Fatalf("bucket %d has %d entries", i, len(b.entries))
		}
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		window    time.Duration
		buckets   int
		adds      []add
		snapAt    int64
		rate      float64
		bytesRate float64
	}{
		{
			name:   "no records",
			window: 10 * time.Second, buckets: 10,
			snapAt: 5000,
		},
		{
			// 10 records over the first 5 s of a 10 s window: divide by
			// 5 s since the first record, not by the window.
			name:   "fresh window is not under-reported",
			window: 10 * time.Second, buckets: 10,
			adds:   evenly(0, 500, 10, 100),
			snapAt: 5000,
			rate:   2, bytesRate: 200,
		},
		{
			// A burst at the first instant divides by the 1 s floor.
			name:   "one second floor",
			window: 10 * time.Second, buckets: 10,
			adds:   evenly(0, 0, 50, 1),
			snapAt: 10,
			rate:   50, bytesRate: 50,
		},
		{
			// 10/s for 60 s; at 60.5 s the window holds buckets 51..60,
			// which cover 9.5 s: 95 records (bucket 60 has the 5 at
			// 60.0..60.4).
			name:   "steady stream over a full window",
			window: 10 * time.Second, buckets: 10,
			adds:   evenly(0, 100, 605, 10),
			snapAt: 60_500,
			rate:   10, bytesRate: 100,
		},
		{
			name:   "quiet second half of the window",
			window: 10 * time.Second, buckets: 10,
			adds:   evenly(0, 100, 50, 1), // 0..4.9 s
			snapAt: 9_500,
			rate:   50.0 / 9.5, bytesRate: 50.0 / 9.5,
		},
		{
			name:   "single bucket window",
			window: 2 * time.Second, buckets: 1,
			adds:   evenly(0, 100, 30, 1), // 0..2.9 s: bucket 1 holds 10
			snapAt: 2_500,
			rate:   10 / 1.0, bytesRate: 10, // covered span 0.5 s, floored to 1 s
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.window, tt.buckets)
			for _, a := range tt.adds {
				w.Add(at(a.ms), a.producer, a.bytes)
			}
			s := w.Snapshot(at(tt.snapAt))
			if !near(s.Rate, tt.rate) || !near(s.BytesPerSec, tt.bytesRate) {
				t.Errorf("Rate, BytesPerSec = %v, %v; want %v, %v", s.Rate, s.BytesPerSec, tt.rate, tt.bytesRate)
			}
		})
	}
}

// evenly returns n adds from one producer starting at startMs, stepMs apart.
func evenly(startMs, stepMs int64, n int, bytes int) []add {
	out := make([]add, n)
	for i := range out {
		out[i] = add{startMs + int64(i)*stepMs, "p", bytes}
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestManyProducers(t *testing.T) {
	w := NewWindow(10*time.Second, 10)
	// 150 producers at t=0: the first 100 are tracked, 50 folded.
	for i := range 150 {
		w.Add(at(0), fmt.Sprintf("p%03d", i), 1)
	}
	// p000 writes again so it sorts right after the folded ones.
	w.Add(at(100), "p000", 1)
	s := w.Snapshot(at(200))
	if len(s.PerProducer) != maxProducers+1 {
		t.Fatalf("%d producers reported; want %d", len(s.PerProducer), maxProducers+1)
	}
	if got := s.PerProducer[0]; got != (ProducerCount{otherProducers, 50}) {
		t.Errorf("first = %v; want the 50 folded producers", got)
	}
	if got := s.PerProducer[1]; got != (ProducerCount{"p000", 2}) {
		t.Errorf("second = %v", got)
	}
	if got := s.PerProducer[maxProducers]; got != (ProducerCount{"p099", 1}) {
		t.Errorf("last = %v", got)
	}
	checkInvariants(t, w, s)

	// p149 was folded; while the table is full it keeps folding.
	w.Add(at(5000), "p149", 1)
	// At 10.5 s the t=0 bucket leaves; every slot frees, so p149 (and a
	// newcomer) get their own slots again.
	w.Add(at(10_500), "p149", 1)
	w.Add(at(10_600), "new", 1)
	s = w.Snapshot(at(10_700))
	want := []ProducerCount{{otherProducers, 1}, {"new", 1}, {"p149", 1}}
	if !reflect.DeepEqual(s.PerProducer, want) {
		t.Errorf("PerProducer = %v; want %v", s.PerProducer, want)
	}
	checkInvariants(t, w, s)
	if len(w.producers.index) != 2 {
		t.Errorf("%d producers still tracked; want 2", len(w.producers.index))
	}
}

// TestAgainstModel drives a Window with seeded random times (mostly
// forward, sometimes backwards, sometimes far) and compares every snapshot
// with a naive model that keeps every record and scans them.
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			buckets := 1 + rng.IntN(12)
			bucketMs := int64(1 + rng.IntN(3))
			bucketDur := time.Duration(bucketMs) * time.Second
			w := NewWindow(bucketDur*time.Duration(buckets), buckets)
			m := &model{n: int64(buckets), unit: bucketMs * 1000}
			ms := int64(0)
			for step := range 3000 {
				switch r := rng.IntN(100); {
				case r < 80:
					ms += int64(rng.IntN(700))
				case r < 90:
					ms -= int64(rng.IntN(int(m.unit) * buckets * 2))
				case r < 95:
					ms += int64(rng.IntN(int(m.unit) * buckets * 3))
				}
				if rng.IntN(10) == 0 {
					s := w.Snapshot(at(ms))
					if m.started {
						m.observe(ms)
					}
					count, per := m.window()
					if s.WindowCount != count || s.Total != m.total {
						t.Fatalf("step %d: WindowCount %d Total %d; model %d %d", step, s.WindowCount, s.Total, count, m.total)
					}
					got := map[string]uint64{}
					for _, p := range s.PerProducer {
						got[p.ProducerID] = p.Count
					}
					if !reflect.DeepEqual(got, per) {
						t.Fatalf("step %d: PerProducer %v; model %v", step, got, per)
					}
					checkInvariants(t, w, s)
					continue
				}
				p := fmt.Sprint("p", rng.IntN(30))
				w.Add(at(ms), p, 1)
				m.add(ms, p)
			}
		})
	}
}

// model is the specification of a Window written the slow, obvious way.
type model struct {
	n, unit int64
	started bool
	base    int64 // ms of the first time seen: bucket boundaries align to it
	head    int64
	total   uint64
	recs    []modelRec
}

type modelRec struct {
	idx int64
	p   string
}

func (m *model) idx(ms int64) int64 {
	return int64(math.Floor(float64(ms-m.base) / float64(m.unit)))
}

// observe applies a time: the head only moves forward, and a time more than
// the window behind it restarts the model.
func (m *model) observe(ms int64) {
	i := m.idx(ms)
	switch {
	case !m.started:
		m.started, m.base, m.head = true, ms, 0
	case i > m.head:
		m.head = i
	case i <= m.head-m.n:
		m.recs, m.head = nil, i
	}
}

func (m *model) add(ms int64, p string) {
	m.observe(ms)
	m.recs = append(m.recs, modelRec{m.idx(ms), p})
	m.total++
}

func (m *model) window() (uint64, map[string]uint64) {
	var n uint64
	per := map[string]uint64{}
	for _, r := range m.recs {
		if r.idx > m.head-m.n && r.idx <= m.head {
			n++
			per[r.p]++
		}
	}
	return n, per
}

func TestNewWindowClamps(t *testing.T) {
	tests := []struct {
		window  time.Duration
		buckets int
		dur     time.Duration
		n       int
	}{
		{60 * time.Second, 60, 60 * time.Second, 60},
		{time.Second, 1, time.Second, 1},
		{time.Hour, 3600, time.Hour, 3600},
		{10 * time.Second, 3, 9999999999, 3},
		{0, 10, time.Second, 10},
		{-time.Minute, 10, time.Second, 10},
		{time.Minute, 0, time.Minute, 1},
		{time.Minute, -5, time.Minute, 1},
		{time.Hour, 100000, time.Hour, 3600},
	}
	for _, tt := range tests {
		w := NewWindow(tt.window, tt.buckets)
		if w.Duration() != tt.dur || len(w.Snapshot(t0).Buckets) != tt.n {
			t.Errorf("NewWindow(%v, %d): Duration %v, %d buckets; want %v, %d",
				tt.window, tt.buckets, w.Duration(), len(w.buckets), tt.dur, tt.n)
		}
	}
}

func TestZeroTimeAndExtremes(t *testing.T) {
	w := NewWindow(time.Minute, 60)
	w.Add(time.Time{}, "p", 1)
	w.Add(time.Unix(1<<40, 0), "p", -5) // saturated Sub, negative bytes
	w.Add(time.Time{}, "p", 1)
	s := w.Snapshot(time.Time{})
	if s.Total != 3 || s.WindowCount != 1 || s.BytesPerSec != 1 {
		t.Errorf("got %+v", s)
	}
	checkInvariants(t, w, s)
}

func TestAddKnownProducerDoesNotAllocate(t *testing.T) {
	w := NewWindow(10*time.Second, 10)
	now := t0
	for range 1000 { // warm every bucket's entries slice
		w.Add(now, "prod1", 100)
		now = now.Add(20 * time.Millisecond)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		w.Add(now, "prod1", 100)
		now = now.Add(20 * time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("Add allocates %v times per call", allocs)
	}
}

func TestFarPastDoesNotOverflow(t *testing.T) {
	w := NewWindow(10*time.Second, 10)
	w.Add(t0, "p", 1)
	past := t0.AddDate(-300, 0, 0) // beyond time.Duration's range
	w.Add(past, "p", 1)
	s := w.Snapshot(past)
	if s.WindowCount != 1 || s.Rate != 1 {
		t.Errorf("got %+v", s)
	}
	checkInvariants(t, w, s)
}
