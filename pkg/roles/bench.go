package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func benchApp() *cli.App {
	return &cli.App{
		Name:  "bench",
		Usage: "load generator: N producers and M consumers, throughput and latency percentiles",
		UsageText: "logstream bench [--leader IP:PORT | --embedded] [--producers N] [--consumers M] [--size B] [--count N] [--rate R]\n" +
			"   e.g. MAX_RECORDS_PER_TOPIC=0 logstream broker --address 127.0.0.1:8001 &   (a broker of its own, keeping every record)\n" +
			"        logstream bench --leader 127.0.0.1:8001 --count 2000000        (throughput)\n" +
			"        logstream bench --leader 127.0.0.1:8001 --sync --count 20000   (one-at-a-time acknowledged latency)\n" +
			"        logstream bench --leader 127.0.0.1:8001 --rate 10000 --count 50000  (ack latency under a fixed rate)\n" +
			"        logstream bench --embedded --count 2000000                     (a broker inside this process)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "leader", EnvVars: []string{"LEADER_ADDRESS"}, Usage: "broker IP:PORT (default: discover by UDP broadcast)"},
			&cli.BoolFlag{Name: "embedded", Usage: "run a broker inside this process on 127.0.0.1 (temporary data directory)"},
			&cli.IntFlag{Name: "producers", Value: 1, Usage: "producers"},
			&cli.IntFlag{Name: "consumers", Value: 1, Usage: "consumers (each reads every topic's records)"},
			&cli.IntFlag{Name: "topics", Value: 1, Usage: "topics, producers spread over them"},
			&cli.StringFlag{Name: "topic", Value: "bench", Usage: "topic name prefix"},
			&cli.IntFlag{Name: "size", Value: 100, Usage: "record payload bytes"},
			&cli.IntFlag{Name: "count", Value: 1_000_000, Usage: "records per producer"},
			&cli.Float64Flag{Name: "rate", Usage: "records per second per producer (0 = as fast as possible)"},
			&cli.IntFlag{Name: "batch", Value: defaults.ProducerBatchRecords, Usage: "records per PRODUCE frame at most"},
			&cli.IntFlag{Name: "inflight", Value: defaults.ProducerInFlight, Usage: "PRODUCE frames awaiting acknowledgement per producer"},
			&cli.BoolFlag{Name: "sync", Usage: "one record at a time: send, wait for its acknowledgement, repeat"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "give up after this long"},
			&cli.IntFlag{Name: "reconnect-attempts", Value: 3, Usage: "reconnection attempts of each client before giving up"},
			&cli.IntFlag{Name: "reconnect-delay", Value: 1, Usage: "longest pause between reconnection attempts (seconds; pauses grow from 100 ms)"},
			&cli.StringFlag{Name: "cpu-profile", Usage: "write a CPU profile of this process (the clients; the embedded broker too) to this file"},
			keyFlag(),
		},
		Action: runBench,
	}
}

// benchMain is the load generator's entry point.
func benchMain(args []string, stdout, stderr io.Writer) int {
	app := cliutil.Prepare(benchApp(), stdout, stderr)
	app.Name = args[0]
	return cliutil.Run(app, args)
}

// latencies keeps samples for percentiles, bounded by a stride so memory
// stays flat whatever the record count.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
	n       uint64
	stride  uint64
}

func newLatencies(expected int) *latencies {
	return &latencies{stride: uint64(max(1, expected/1_000_000))}
}

func (l *latencies) addLocked(d time.Duration) {
	if l.n%l.stride == 0 {
		l.samples = append(l.samples, d)
	}
	l.n++
}

// add adds one latency.
func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.addLocked(d)
	l.mu.Unlock()
}

// since adds now minus each stamp (Unix nanoseconds) that is not zero, under
// one lock: a batch's records, not one lock round per record.
func (l *latencies) since(now int64, stamps []int64) {
	l.mu.Lock()
	for _, t := range stamps {
		if t != 0 {
			l.addLocked(time.Duration(now - t))
		}
	}
	l.mu.Unlock()
}

func (l *latencies) percentiles() map[string]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]float64{}
	if len(l.samples) == 0 {
		return out
	}
	slices.Sort(l.samples)
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}, {"max", 1}} {
		i := min(len(l.samples)-1, int(p.q*float64(len(l.samples))))
		out[p.name] = float64(l.samples[i]) / float64(time.Microsecond)
	}
	return out
}

type benchResult struct {
	Broker         string             `json:"broker"` // --leader, or the embedded broker's address
	Sync           bool               `json:"sync"`
	Rate           float64            `json:"rate_per_producer,omitempty"`
	Producers      int                `json:"producers"`
	Consumers      int                `json:"consumers"`
	Topics         int                `json:"topics"`
	RecordBytes    int                `json:"record_bytes"`
	Records        uint64             `json:"records_acknowledged"`
	ProduceSeconds float64            `json:"produce_seconds"`
	ProduceRate    float64            `json:"produce_records_per_second"`
	ProduceMBps    float64            `json:"produce_mb_per_second"`
	AckLatencyUs   map[string]float64 `json:"ack_latency_us"`
	Consumed       uint64             `json:"records_consumed"`
	ConsumeSeconds float64            `json:"consume_seconds"`
	ConsumeRate    float64            `json:"consume_records_per_second"`
	E2ELatencyUs   map[string]float64 `json:"end_to_end_latency_us"`
}

func runBench(c *cli.Context) error {
	nProd, nCons, nTopics := c.Int("producers"), c.Int("consumers"), c.Int("topics")
	size, count := c.Int("size"), c.Int("count")
	switch {
	case nProd < 1 || nProd > 1000:
		return cliutil.UsageError("--producers", fmt.Sprint(nProd), "want 1 to 1000")
	case nCons < 0 || nCons > 1000:
		return cliutil.UsageError("--consumers", fmt.Sprint(nCons), "want 0 to 1000")
	case nTopics < 1 || nTopics > nProd:
		return cliutil.UsageError("--topics", fmt.Sprint(nTopics), "want 1 to the number of producers")
	case size < 1 || size > 4<<20-4096:
		return cliutil.UsageError("--size", fmt.Sprint(size), "want 1 byte to just under 4 MiB")
	case c.Int("reconnect-attempts") < 1 || c.Int("reconnect-delay") < 1 || c.Int("reconnect-delay") > 3600:
		return cliutil.UsageError("--reconnect-attempts/--reconnect-delay", fmt.Sprint(c.Int("reconnect-attempts"), "/", c.Int("reconnect-delay")), "want at least 1 attempt and 1 to 3600 seconds")
	case count < 1:
		return cliutil.UsageError("--count", fmt.Sprint(count), "want 1 or more")
	case c.String("format") != "text" && c.String("format") != "json":
		return cliutil.UsageError("--format", c.String("format"), "want text or json")
	}
	log, err := cliutil.NewLogger(c, c.App.ErrWriter, "bench")
	if err != nil {
		return err
	}
	key, err := clusterKey(c)
	if err != nil {
		return err
	}
	if l := c.String("leader"); l != "" {
		if err := client.ParseAddr("--leader", l); err != nil {
			return cli.Exit(err.Error(), 2)
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.Duration("timeout"))
	defer cancel()

	if path := c.String("cpu-profile"); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		defer stopProfile()
	}
	leader := c.String("leader")
	if c.Bool("embedded") {
		addr, stopBroker, err := embeddedBroker(ctx, log, key)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		defer stopBroker()
		leader = addr
	}
	opts := func(name string) client.Options {
		return client.Options{ClientID: client.NewClientID(name), Leader: leader, Logger: log,
			ReconnectAttempts: c.Int("reconnect-attempts"), ReconnectDelay: time.Duration(c.Int("reconnect-delay")) * time.Second, Key: key}
	}
	topics := benchTopics(c.String("topic"), time.Now(), nTopics)

	// The first client that fails ends the run: the others would go on
	// for as long as their records take, and the answer is already known.
	failed := newFirstFailure(ctx)
	ctx = failed.ctx
	total := uint64(nProd * count)
	ackLat, e2eLat := newLatencies(int(total)), newLatencies(int(total)*max(nCons, 1))
	var acked, consumed atomic.Uint64
	var wg sync.WaitGroup
	runCtx, stopClients := context.WithCancel(context.Background())
	defer func() { stopClients(); wg.Wait() }()

	// Consumers first, reading from the start of each topic.
	consDone := make(chan time.Time, nCons)
	for i := 0; i < nCons; i++ {
		for _, t := range topics {
			want := uint64(count * (nProd / nTopics))
			if idx := slices.Index(topics, t); idx < nProd%nTopics {
				want += uint64(count)
			}
			h := &benchConsumer{topic: t, want: want, lat: e2eLat, consumed: &consumed, done: consDone}
			cons := client.NewConsumer(opts("bench-cons"), client.ConsumerOptions{Topic: t, MaxBatch: 5000})
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cons.Run(runCtx, h); err != nil {
					failed.set(fmt.Errorf("consuming: %w", err))
				}
			}()
		}
	}

	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	start := time.Now()
	var prodWG sync.WaitGroup
	for i := 0; i < nProd; i++ {
		sent := make([]int64, count+1) // send time by sequence number
		var p *client.Producer
		p = client.NewProducer(opts("bench-prod"), client.ProducerOptions{Topic: topics[i%nTopics],
			MaxBatchRecords: c.Int("batch"), MaxInFlight: c.Int("inflight"),
			OnAck: func(first uint64, n int) {
				ackLat.since(time.Now().UnixNano(), sent[first:first+uint64(n)])
				acked.Add(uint64(n))
			}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Run(runCtx)
		}()
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			if err := benchProduce(ctx, p, payload, count, c.Float64("rate"), c.Bool("sync"), sent, ackLat); err != nil && ctx.Err() == nil {
				failed.set(fmt.Errorf("producing: %w", err))
			}
		}()
	}
	progressDone := make(chan struct{})
	go benchProgress(c.App.ErrWriter, &acked, &consumed, total, uint64(nCons)*total, progressDone)
	prodWG.Wait()
	produceTime := time.Since(start)
	var consumeTime time.Duration
	for i := 0; i < nCons*nTopics && failed.err() == nil; i++ {
		select {
		case t := <-consDone:
			consumeTime = max(consumeTime, t.Sub(start))
		case <-ctx.Done():
			failed.set(errors.New("timed out waiting for consumers"))
		}
	}
	close(progressDone)
	if err := failed.err(); err != nil {
		return cli.Exit(benchFailure(err, nProd+nCons*nTopics), 1)
	}

	mb := float64(size) / 1e6
	res := benchResult{Broker: leader, Sync: c.Bool("sync"), Rate: c.Float64("rate"), Producers: nProd, Consumers: nCons, Topics: nTopics, RecordBytes: size,
		Records: acked.Load(), ProduceSeconds: produceTime.Seconds(),
		ProduceRate: float64(acked.Load()) / produceTime.Seconds(), AckLatencyUs: ackLat.percentiles(),
		Consumed: consumed.Load(), E2ELatencyUs: e2eLat.percentiles()}
	res.ProduceMBps = res.ProduceRate * mb
	if consumeTime > 0 {
		res.ConsumeSeconds = consumeTime.Seconds()
		res.ConsumeRate = float64(consumed.Load()) / consumeTime.Seconds()
	}
	if c.String("format") == "json" {
		enc := json.NewEncoder(c.App.Writer)
		return enc.Encode(res)
	}
	w := c.App.Writer
	mode := fmt.Sprintf("batch=%d inflight=%d", c.Int("batch"), c.Int("inflight"))
	if c.Bool("sync") {
		mode = "one at a time (--sync)"
	}
	if r := c.Float64("rate"); r > 0 {
		mode += fmt.Sprintf(" rate=%.0f/s per producer", r)
	}
	if res.Broker == "" {
		res.Broker = "(discovered)"
	}
	fmt.Fprintf(w, "broker=%s producers=%d consumers=%d topics=%d record=%dB %s\n", res.Broker, nProd, nCons, nTopics, size, mode)
	fmt.Fprintf(w, "produce: %d records acknowledged in %.3fs = %.0f records/s, %.1f MB/s\n", res.Records, res.ProduceSeconds, res.ProduceRate, res.ProduceMBps)
	fmt.Fprintf(w, "  ack latency (µs):        %s\n", fmtPct(res.AckLatencyUs))
	if nCons > 0 {
		fmt.Fprintf(w, "consume: %d records in %.3fs = %.0f records/s\n", res.Consumed, res.ConsumeSeconds, res.ConsumeRate)
		fmt.Fprintf(w, "  end-to-end latency (µs): %s\n", fmtPct(res.E2ELatencyUs))
	}
	return nil
}

// benchTopics names a run's topics: fresh ones, so its consumers, which read
// from the start, see only this run's records. The name carries the start
// time to the nanosecond: with seconds, a run started within a second of the
// previous one (a script's next measure) shared its topic, and its consumer
// counted the older records and their age (end-to-end p90 of 100-250 ms at
// 10,000 records/s instead of 0.2 ms).
func benchTopics(prefix string, start time.Time, n int) []string {
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("%s-%d-%d", prefix, start.UnixNano(), i)
	}
	return topics
}

// startCPUProfile profiles this process into path until the returned stop:
// the client side of a run, which on a small machine competes with the broker
// for the same cores.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// firstFailure keeps the first error of the bench's clients and cancels
// its context, so the run ends at once.
type firstFailure struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	first  error
}

func newFirstFailure(parent context.Context) *firstFailure {
	ctx, cancel := context.WithCancel(parent)
	return &firstFailure{ctx: ctx, cancel: cancel}
}

func (f *firstFailure) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = err
		f.cancel()
	}
}

// err is the first failure; a context that ended by itself (the --timeout,
// a signal) counts as one.
func (f *firstFailure) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil && f.ctx.Err() != nil {
		return fmt.Errorf("stopped before the end: %w", context.Cause(f.ctx))
	}
	return f.first
}

// benchFailure is the one line bench ends with. A connection limit is
// explained: every client of a bench connects from this one host.
func benchFailure(err error, conns int) string {
	msg := err.Error()
	if strings.Contains(msg, "MAX_CONNECTIONS") {
		msg += fmt.Sprintf("; this bench opens %d connections from this host (--producers + --consumers × --topics)", conns)
	}
	return msg
}

func fmtPct(m map[string]float64) string {
	return fmt.Sprintf("p50=%.0f p90=%.0f p99=%.0f p99.9=%.0f max=%.0f", m["p50"], m["p90"], m["p99"], m["p99.9"], m["max"])
}

// sendStampEvery: an unpaced batched run takes the send time of one record
// in this many for its ack latency percentiles (every record with --rate;
// --sync times each record itself, see benchSync). A clock read per record
// cost the bench as much CPU as encoding the record (measured: a quarter of
// the client's CPU), CPU that the broker on the same cores then did not get.
const sendStampEvery = 16

func benchProduce(ctx context.Context, p *client.Producer, payload []byte, count int, rate float64, sync bool, sent []int64, lat *latencies) error {
	if sync {
		return benchSync(ctx, p, payload, count, lat, func() int64 { return time.Now().UnixNano() })
	}
	if rate == 0 {
		return benchProduceAll(ctx, p, payload, count, sent)
	}
	start := time.Now()
	for i := 1; i <= count; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i-1) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		sent[i] = time.Now().UnixNano()
		if err := p.Send(ctx, payload); err != nil {
			return err
		}
	}
	return p.Flush(ctx)
}

// syncSender is what benchSync needs of a producer.
type syncSender interface {
	Send(ctx context.Context, payload []byte) error
	Flush(ctx context.Context) error
}

// benchSync sends count records one at a time and adds to lat what the
// caller waited for each: from Send until Flush returns. That is what a
// peer's client reports for a synchronous publish (the call returns with
// the acknowledgement), so it is the figure to set beside theirs; the
// producer's reader holds the acknowledgement (OnAck, where the other modes
// take their ack latency) a wake-up of the caller earlier.
func benchSync(ctx context.Context, p syncSender, payload []byte, count int, lat *latencies, now func() int64) error {
	for i := 1; i <= count; i++ {
		t := now()
		if err := p.Send(ctx, payload); err != nil {
			return err
		}
		if err := p.Flush(ctx); err != nil {
			return err
		}
		lat.add(time.Duration(now() - t))
	}
	return nil
}

// benchGroup is how many records an unpaced bench producer hands over at
// once.
const benchGroup = 256

// benchProduceAll is benchProduce unpaced: records go to the producer
// benchGroup at a time with SendAll, as the stdin feed hands over its
// lines, instead of one Send (a lock, a clock read and a wake-up of the
// sender) per record, which cost the bench a third of its CPU on the cores
// the broker needs. A record's send time is when its group was handed over.
func benchProduceAll(ctx context.Context, p *client.Producer, payload []byte, count int, sent []int64) error {
	group := make([][]byte, benchGroup)
	for i := range group {
		group[i] = payload
	}
	for i := 1; i <= count; i += benchGroup {
		k := min(benchGroup, count-i+1)
		now := time.Now().UnixNano()
		for j := i; j < i+k; j++ {
			if j%sendStampEvery == 1 {
				sent[j] = now
			}
		}
		if _, err := p.SendAll(ctx, group[:k]); err != nil {
			return err
		}
	}
	return p.Flush(ctx)
}

// benchConsumer counts records and end-to-end latency (the record's producer
// timestamp to its arrival here).
type benchConsumer struct {
	topic    string
	next     uint64 // offset expected next
	want     uint64
	got      uint64
	lat      *latencies
	consumed *atomic.Uint64
	done     chan time.Time
}

// errBenchLost ends a bench whose consumer cannot get every record: the
// broker removed some (retention) before it read them, so waiting would
// only run into --timeout.
var errBenchLost = errors.New("records lost")

func (b *benchConsumer) lost(from, to uint64) error {
	return fmt.Errorf("%w: the consumer of %s missed offsets %d to %d, removed by the broker's retention before it read them; "+
		"run the broker with MAX_RECORDS_PER_TOPIC=0 (or above --count × producers per topic) to measure consumers",
		errBenchLost, b.topic, from, to)
}

// Start checks that the subscription begins where the consumer left off
// (offset 0 of a fresh topic at first).
func (b *benchConsumer) Start(next, committed uint64) error {
	if next > b.next {
		return b.lost(b.next, next-1)
	}
	return nil
}
func (b *benchConsumer) Stats(*wire.Stats) {}
func (b *benchConsumer) Records(recs []record.Record) error {
	if len(recs) > 0 && recs[0].Offset > b.next {
		return b.lost(b.next, recs[0].Offset-1)
	}
	if len(recs) > 0 {
		b.next = recs[len(recs)-1].Offset + 1
	}
	now := time.Now().UnixNano()
	b.lat.mu.Lock()
	for i := range recs {
		b.lat.addLocked(time.Duration(now - recs[i].Timestamp))
	}
	b.lat.mu.Unlock()
	b.got += uint64(len(recs))
	b.consumed.Add(uint64(len(recs)))
	if b.got >= b.want {
		b.done <- time.Now()
		return client.ErrStop
	}
	return nil
}

func benchProgress(w io.Writer, acked, consumed *atomic.Uint64, wantAcked, wantConsumed uint64, done <-chan struct{}) {
	if !cliutil.IsTerminal(w) {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	last, lastAcked, lastConsumed := time.Now(), acked.Load(), consumed.Load()
	for {
		select {
		case <-done:
			fmt.Fprint(w, "\r\033[K")
			return
		case now := <-t.C:
			a, cons := acked.Load(), consumed.Load()
			secs := now.Sub(last).Seconds()
			bar := int(40 * a / max(wantAcked, 1))
			fmt.Fprintf(w, "\r\033[K[%-40s] acked %d/%d (%.0f/s) consumed %d/%d (%.0f/s)", string(slices.Repeat([]byte("#"), bar)),
				a, wantAcked, float64(a-lastAcked)/secs, cons, wantConsumed, float64(cons-lastConsumed)/secs)
			last, lastAcked, lastConsumed = now, a, cons
		}
	}
}

// embeddedBroker starts a broker in this process on 127.0.0.1 with discovery
// off and a temporary data directory, removed by the returned stop.
func embeddedBroker(ctx context.Context, log zerolog.Logger, key *wire.Key) (string, func(), error) {
	dir, err := os.MkdirTemp("", "logstream-bench-")
	if err != nil {
		return "", nil, err
	}
	cfg := broker.DefaultConfig()
	cfg.Name = "bench"
	cfg.Listen = netip.MustParseAddrPort("127.0.0.1:0")
	cfg.Advertise = cfg.Listen
	cfg.BroadcastPort = 0
	cfg.DataDir = dir
	cfg.MaxRecords = 0
	cfg.Key = key
	cfg.MaxConnsPerIP = cfg.MaxConns // every bench client comes from 127.0.0.1
	cfg.Logger = log.Level(zerolog.WarnLevel)
	b, err := broker.New(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(bctx)
	}()
	return b.Addr().String(), func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}, nil
}
