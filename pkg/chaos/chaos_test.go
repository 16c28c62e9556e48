package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/internal/proctest"
	"github.com/logstream/logstream/pkg/internal/testnet"
	"github.com/logstream/logstream/pkg/topiclog"
)

var (
	flagSeed     = flag.Uint64("chaos.seed", 1, "seed of the first run's fault schedule (0: pick one at random)")
	flagSeeds    = flag.Int("chaos.seeds", 1, "how many seeds to run (seed, seed+1, ...)")
	flagDuration = flag.Duration("chaos.duration", 150*time.Second, "length of the fault phase of each run")
	flagHistory  = flag.String("chaos.history", "", "where to keep a failing run's history (default: chaos-history/ at the repository root)")
	flagKeep     = flag.Bool("chaos.keep", false, "keep the history of passing runs too")
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Cleanup()
	os.Exit(code)
}

const (
	nBrokers = 5
	// recoveryBound is how soon after the last fault ends the cluster must
	// serve everything again (acknowledge every remaining record).
	recoveryBound = 60 * time.Second
	// settleBound is how long the next fault waits for the cluster to be
	// whole again after the last (see settle).
	settleBound = 60 * time.Second
	ratePerSec  = 150 // lines per second per producer
	benchRate   = 100 // records per second of the load generator
)

var brokerTiming = []string{"BROKER_HB_INTERVAL=1", "FOLLOWER_HB_INTERVAL=1", "SUSPICION_TIMEOUT=2",
	"FAILURE_TIMEOUT=3", "BROKER_TIMEOUT=8", "CLIENT_HB_INTERVAL=1", "MAX_RECORDS_PER_TOPIC=0", "LOG_LEVEL=info"}

var clientFlags = []string{"-reconnect-attempts", "1000", "-reconnect-delay", "1", "-hb-interval", "1", "-hb-timeout", "3"}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: skipped with -short")
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()%1_000_000) + 1
	}
	for i := 0; i < *flagSeeds; i++ {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Logf("chaos seed %d, %s of faults; replay: go test ./pkg/chaos -run TestChaos -chaos.seed=%d -chaos.duration=%s",
				s, *flagDuration, s, *flagDuration)
			runChaos(t, s, *flagDuration)
		})
	}
}

// world is one chaos run: the network, the brokers and what the clients saw.
type world struct {
	t       *testing.T
	net     *testnet.Network
	home    string
	mu      sync.Mutex // guards brokers (restarts replace entries)
	brokers []*proctest.Proc
	past    map[int][]string // stderr of each broker's killed incarnations
	down    map[int]bool     // brokers killed and not yet restarted
	start   time.Time
	events  []string
	// lastOver is when the last fault ended (set by the fault loop only).
	lastOver time.Time
}

func (w *world) logf(format string, args ...any) {
	line := fmt.Sprintf("t=%6.1fs ", time.Since(w.start).Seconds()) + fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.events = append(w.events, line)
	w.mu.Unlock()
	w.t.Log(line)
}

func (w *world) startBroker(i int) *proctest.Proc {
	env := append([]string{"LOGSTREAM_HOME=" + w.home, fmt.Sprintf("NODE_NAME=node%d", i+1)}, brokerTiming...)
	return proctest.Start(w.t, w.net.Host(i), env, "logstream")
}

func (w *world) broker(i int) *proctest.Proc {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.brokers[i]
}

// producer is one producer process and how many lines it was given.
type producer struct {
	name, topic string
	proc        *proctest.Proc
	lines       int
}

// consumed is one consumer's view of a topic, filled live from its output.
type consumed struct {
	mu      sync.Mutex
	records []rec
	arrival []time.Time
}

type rec struct {
	Type    string `json:"type"`
	Offset  uint64 `json:"offset"`
	Payload string `json:"payload"`
}

func (c *consumed) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var x rec
		if json.Unmarshal(sc.Bytes(), &x) != nil || x.Type != "record" {
			continue
		}
		c.mu.Lock()
		c.records = append(c.records, x)
		c.arrival = append(c.arrival, time.Now())
		c.mu.Unlock()
	}
}

func (c *consumed) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.records)
}

func runChaos(t *testing.T, seed uint64, duration time.Duration) {
	w := &world{t: t, net: testnet.New(t, testnet.Options{Hosts: nBrokers + 2}), home: t.TempDir(), down: map[int]bool{}}
	w.start = time.Now()
	for i := 0; i < nBrokers; i++ {
		w.brokers = append(w.brokers, w.startBroker(i))
		if i == 0 {
			w.brokers[0].WaitLog("ClusterState", 15*time.Second)
		}
	}
	w.waitView(nBrokers, 60*time.Second)
	w.logf("cluster of %d brokers formed", nBrokers)

	// Two topics; alpha has two producers, beta one. Each producer is fed
	// numbered lines through a pipe; a consumer per topic follows live.
	topics := []string{"alpha", "beta"}
	cons := map[string]*consumed{}
	for i, topic := range topics {
		c := &consumed{}
		pr, pw := io.Pipe()
		go c.follow(pr)
		cons[topic] = c
		p := proctest.StartWith(t, w.net.Host(nBrokers+i), proctest.Options{Stdout: pw}, []string{"LOGSTREAM_HOME=" + w.home},
			"consumer", append([]string{"-topic", topic, "-analytics=false", "-format", "json"}, clientFlags...)...)
		t.Cleanup(func() { p.Signal(syscall.SIGKILL); <-p.Done(); pw.Close() })
	}
	producers := []*producer{{name: "P1", topic: "alpha"}, {name: "P2", topic: "alpha"}, {name: "P3", topic: "beta"}}
	var writers sync.WaitGroup
	stopWriting := make(chan struct{})
	for i, p := range producers {
		p.proc = proctest.Start(t, w.net.Host(nBrokers+i%2), []string{"LOGSTREAM_HOME=" + w.home}, "producer",
			append([]string{"-topic", p.topic, "-name", p.name}, clientFlags...)...)
		writers.Add(1)
		go func() {
			defer writers.Done()
			defer p.proc.Stdin.Close()
			tick := time.NewTicker(time.Second / ratePerSec)
			defer tick.Stop()
			for {
				select {
				case <-stopWriting:
					return
				case <-tick.C:
				}
				p.lines++
				if _, err := fmt.Fprintf(p.proc.Stdin, "%s-%07d\n", p.name, p.lines); err != nil {
					p.lines--
					return
				}
			}
		}()
	}

	// Background load through the load generator, on a third topic: its own
	// consumer must receive every record it had acknowledged.
	benchCount := int(duration.Seconds()) * benchRate
	bench := proctest.Start(t, w.net.Host(nBrokers+1), []string{"LOGSTREAM_HOME=" + w.home}, "logstream",
		"bench", "--topic", "gamma", "--count", strconv.Itoa(benchCount), "--rate", strconv.Itoa(benchRate),
		"--batch", "50", "--format", "json", "--reconnect-attempts", "1000", "--reconnect-delay", "1",
		"--timeout", (duration + recoveryBound + time.Minute).String())

	// The fault phase.
	schedule := Schedule(seed, nBrokers, duration)
	var recoveries []recovery
	var late time.Duration
	// A fault fires on a whole cluster (see settle): one that fired while
	// the last was still being repaired would count that repair as its own
	// stall. The first waits for the clients to be flowing.
	settled, _ := w.settle(cons, settleBound)
	for _, f := range schedule {
		// The schedule's own clock: faults fire at their planned times,
		// moved on by however long the cluster took to settle past them.
		if d := time.Until(w.start.Add(f.At + late)); d > 0 {
			time.Sleep(d)
		} else {
			late -= d
		}
		r := w.inject(f, cons)
		if !settled {
			r.class += "/unsettled"
		}
		settled = r.settled
		recoveries = append(recoveries, r)
	}
	close(stopWriting)
	writers.Wait()
	w.healAll()
	w.logf("faults over; every broker back; waiting up to %s for every record to be acknowledged", recoveryBound)

	// Liveness: the producers get everything acknowledged within the bound.
	deadline := time.Now().Add(recoveryBound)
	want := map[string]int{}
	for _, p := range producers {
		// Not proc.Wait: a producer still running is a failed run, and its
		// history must be kept like any other.
		select {
		case <-p.proc.Done():
		case <-time.After(time.Until(deadline) + time.Second):
			w.fail(seed, cons, "producer %s: records still unacknowledged %s after the last fault\n%s",
				p.name, recoveryBound, proctest.Tail(p.proc.Stderr.String(), 20))
		}
		if err := p.proc.Err(); err != nil {
			w.fail(seed, cons, "producer %s: %v\n%s", p.name, err, proctest.Tail(p.proc.Stderr.String(), 20))
		}
		want[p.topic] += p.lines
	}
	w.logf("every record acknowledged (%d lines written)", want["alpha"]+want["beta"])
	select {
	case <-bench.Done():
	case <-time.After(time.Until(deadline) + time.Minute):
		w.fail(seed, cons, "logstream bench still running %s after the last fault\n%s",
			recoveryBound+time.Minute, proctest.Tail(bench.Stderr.String(), 20))
	}
	if err := bench.Err(); err != nil {
		w.fail(seed, cons, "logstream bench: %v\n%s", err, proctest.Tail(bench.Stderr.String(), 20))
	}
	var br struct {
		Acked    uint64 `json:"records_acknowledged"`
		Consumed uint64 `json:"records_consumed"`
	}
	if err := json.Unmarshal([]byte(bench.Stdout.String()), &br); err != nil || br.Acked != uint64(benchCount) || br.Consumed != br.Acked {
		w.fail(seed, cons, "logstream bench: acknowledged %d, consumed %d of %d (%v)", br.Acked, br.Consumed, benchCount, err)
	}
	w.logf("bench: %d records acknowledged and consumed", br.Acked)
	for _, topic := range topics {
		c := cons[topic]
		for c.count() < want[topic] && time.Now().Before(deadline.Add(30*time.Second)) {
			time.Sleep(50 * time.Millisecond) // polling the consumer's progress, bounded
		}
	}

	// Safety: exactly once, in order, per topic and per producer.
	for _, topic := range topics {
		var lines []int
		for _, p := range producers {
			if p.topic == topic {
				lines = append(lines, p.lines)
			}
		}
		var names []string
		for _, p := range producers {
			if p.topic == topic {
				names = append(names, p.name)
			}
		}
		if err := checkTopic(cons[topic].snapshot(), names, lines); err != nil {
			w.fail(seed, cons, "topic %s: %v", topic, err)
		}
	}
	// Every broker's log agrees with what the consumers saw, and a majority
	// holds all of it.
	w.stopAll()
	for _, topic := range topics {
		if err := w.checkLogs(topic, cons[topic].snapshot()); err != nil {
			w.fail(seed, cons, "broker logs of %s: %v", topic, err)
		}
	}
	measure(recoveries, cons)
	w.report(recoveries)
	if *flagKeep {
		w.keep(seed, cons)
	}
	w.logf("verdict: PASS (seed %d)", seed)
}

func (c *consumed) snapshot() []rec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.records)
}

// stallAfter is the longest pause in deliveries that began within
// [from, to): how long the topic stopped flowing because of a fault. A pause
// still running at `to` lasts until the next delivery; with none yet, until
// `open` (zero: the stream has ended, every record was delivered).
func (c *consumed) stallAfter(from, to, open time.Time) (worst time.Duration, began time.Time) {
	return c.stallBefore(from, to, open, time.Time{})
}

// stallBefore is stallAfter with every pause cut short at clip (unless
// zero): what a fault stalled before the next one began.
func (c *consumed) stallBefore(from, to, open, clip time.Time) (worst time.Duration, began time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := from
	for _, a := range c.arrival {
		if !a.After(from) {
			continue
		}
		end := a
		if !clip.IsZero() && end.After(clip) {
			end = clip
		}
		if end.Sub(prev) > worst {
			worst, began = end.Sub(prev), prev
		}
		if a.After(to) {
			return worst, began
		}
		prev = a
	}
	if !clip.IsZero() && open.After(clip) {
		open = clip
	}
	if open.Sub(prev) > worst {
		worst, began = open.Sub(prev), prev
	}
	return worst, began
}

func (c *consumed) last() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.arrival) == 0 {
		return time.Time{}
	}
	return c.arrival[len(c.arrival)-1]
}

// settle waits, at most bound, until the cluster is whole again: every
// broker running and in one view of all nBrokers members, and every
// followed topic delivering since that view was seen. It says whether the
// cluster settled and how long after the last fault ended (or the run
// began) it did.
func (w *world) settle(cons map[string]*consumed, bound time.Duration) (bool, time.Duration) {
	from := w.start
	if w.lastOver.After(from) {
		from = w.lastOver
	}
	deadline := time.Now().Add(bound)
	var whole time.Time // when every broker was first seen in the full view
	for time.Now().Before(deadline) {
		full := true
		for i := 0; i < nBrokers; i++ {
			if w.isDown(i) || w.broker(i).ViewSize() != nBrokers {
				full = false
			}
		}
		switch {
		case !full:
			whole = time.Time{}
		case whole.IsZero():
			whole = time.Now()
		default:
			flowing := true
			for _, c := range cons {
				if !c.last().After(whole) {
					flowing = false
				}
			}
			if flowing {
				return true, time.Since(from)
			}
		}
		time.Sleep(50 * time.Millisecond) // polling logs and deliveries, bounded by the deadline
	}
	w.logf("cluster not whole %s after the last fault; the next fault fires anyway", bound)
	return false, time.Since(from)
}

// waitView waits until every running broker's latest ClusterState shows n
// members.
func (w *world) waitView(n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		ok := true
		for i := 0; i < nBrokers; i++ {
			if w.broker(i).ViewSize() != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("brokers did not agree on a view of %d within %s", n, d)
		}
		time.Sleep(50 * time.Millisecond) // polling logs, bounded
	}
}

// recovery is one fault: when it began and ended, and how long it stopped
// the stream (measured once the run is over, so that a stall running past
// the fault's own window is measured to its true end).
type recovery struct {
	kind        Kind
	what        string // the fault as the timeline names it
	class       string // the targets' part when it fired: leader/owner/follower, single/double (see classify)
	owned       map[string]bool
	began, over time.Time
	stall       time.Duration
	topic       string    // where the longest stall was
	stallFrom   time.Time // and when it began
	// others is the longest stall of the followed topics the targets did
	// not own: a fault should stall nothing it does not have to move.
	others time.Duration
	// whole is how long after the fault ended the cluster was whole again:
	// every broker back in the view, every topic delivering; settled is
	// false if it was not within settleBound.
	whole   time.Duration
	settled bool
}

// measure sets each fault's stall: the longest pause in deliveries of any
// topic that began during the fault or after it until the cluster was whole
// again (at least 2 s, but not past the next fault's start). It runs once
// every record has been delivered.
func measure(rs []recovery, cons map[string]*consumed) {
	for i := range rs {
		end := rs[i].over.Add(max(2*time.Second, rs[i].whole))
		var next time.Time // what stalled once the next fault began is the next fault's
		if i+1 < len(rs) {
			next = rs[i+1].began
			if next.Before(end) {
				end = next
			}
		}
		for topic, c := range cons {
			d, from := c.stallBefore(rs[i].began, end, time.Time{}, next)
			if d > rs[i].stall {
				rs[i].stall, rs[i].topic, rs[i].stallFrom = d, topic, from
			}
			if !rs[i].owned[topic] {
				rs[i].others = max(rs[i].others, d)
			}
		}
	}
}

// resolve turns a scheduled target into a broker index now.
func (w *world) resolve(tg Target) int {
	md, ok := w.roles()
	switch {
	case !ok:
	case tg.Role == "leader":
		if i, ok := w.index(md.leader); ok {
			return i
		}
	case tg.Role == "owner":
		if i, ok := w.index(md.owners["alpha"]); ok {
			return i
		}
	}
	return tg.Index
}

// roleMap is what the running brokers say the leader and each topic's owner
// are (addresses).
type roleMap struct {
	leader string
	owners map[string]string
}

// roles queries the running brokers (from a client host) for the leader and
// the owner of every topic.
func (w *world) roles() (roleMap, bool) {
	var md roleMap
	found := false
	w.net.Host(nBrokers).Do(func() error {
		for i, h := range w.net.Hosts()[:nBrokers] {
			if w.isDown(i) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			m, err := client.MetadataKeyed(ctx, netip.AddrPortFrom(h.IP, 8001).String(), 1<<20, nil)
			cancel()
			if err != nil || m.LeaderAddr == "" {
				continue
			}
			md = roleMap{leader: m.LeaderAddr, owners: map[string]string{}}
			for _, ti := range m.Topics {
				md.owners[ti.Name] = ti.OwnerAddr
			}
			found = true
			return nil
		}
		return nil
	})
	return md, found
}

// index maps a broker address to its index.
func (w *world) index(addr string) (int, bool) {
	for i, h := range w.net.Hosts()[:nBrokers] {
		if addr == netip.AddrPortFrom(h.IP, 8001).String() {
			return i, true
		}
	}
	return 0, false
}

// classify names the part the fault's targets played when it fired: the
// strongest of leader, owner (of a topic a consumer follows) and follower,
// and single or double; owned lists the followed topics they owned.
func (w *world) classify(md roleMap, known bool, targets []int, followed []string) (class string, owned map[string]bool) {
	owned = map[string]bool{}
	if !known {
		return "unknown", owned
	}
	rank := 0 // 0 follower, 1 owner, 2 leader
	for _, i := range targets {
		addr := netip.AddrPortFrom(w.net.Hosts()[i].IP, 8001).String()
		for _, topic := range followed {
			if md.owners[topic] == addr {
				owned[topic] = true
				rank = max(rank, 1)
			}
		}
		if md.leader == addr {
			rank = 2
		}
	}
	class = []string{"follower", "owner", "leader"}[rank]
	if len(targets) == nBrokers {
		return "all", owned
	}
	if len(targets) > 1 {
		return class + "/double", owned
	}
	return class + "/single", owned
}

func (w *world) isDown(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.down[i]
}

// inject applies one fault, waits out its length, undoes it, and measures
// how long deliveries stalled.
func (w *world) inject(f Fault, cons map[string]*consumed) recovery {
	var targets []int
	for _, tg := range f.Targets {
		i := w.resolve(tg)
		if !slices.Contains(targets, i) {
			targets = append(targets, i)
		}
	}
	if f.Kind == KillAll {
		for i := range nBrokers {
			targets = append(targets, i)
		}
	}
	followed := make([]string, 0, len(cons))
	for topic := range cons {
		followed = append(followed, topic)
	}
	md, known := w.roles()
	class, owned := w.classify(md, known, targets, followed)
	began := time.Now()
	w.logf("FAULT %s on %v (%v): %s", f.Kind, targets, f.Targets, class)
	for _, i := range targets {
		switch f.Kind {
		case KillRestart, KillAll, Wipe, Damage:
			b := w.broker(i)
			b.Signal(syscall.SIGKILL)
			<-b.Done()
			w.mu.Lock()
			if w.past == nil {
				w.past = map[int][]string{}
			}
			w.past[i] = append(w.past[i], b.Stderr.String())
			w.down[i] = true
			w.mu.Unlock()
			switch f.Kind {
			case Wipe:
				w.wipe(i)
			case Damage:
				w.damage(i)
			}
		case Pause:
			w.broker(i).Signal(syscall.SIGSTOP)
		case Cut:
			if err := w.net.Cut(i); err != nil {
				w.t.Fatalf("cut %d: %v", i, err)
			}
		}
	}
	time.Sleep(f.Length) // the fault lasts this long: it is the schedule, not a synchronisation
	for _, i := range targets {
		switch f.Kind {
		case KillRestart, KillAll, Wipe, Damage:
			p := w.startBroker(i)
			w.mu.Lock()
			w.brokers[i] = p
			w.down[i] = false
			w.mu.Unlock()
		case Pause:
			w.broker(i).Signal(syscall.SIGCONT)
		case Cut:
			if err := w.net.Heal(i); err != nil {
				w.t.Fatalf("heal %d: %v", i, err)
			}
		}
	}
	over := time.Now()
	w.lastOver = over
	w.logf("fault over: %s on %v", f.Kind, targets)
	settled, whole := w.settle(cons, settleBound)
	// A first look at how long the stream stopped, for the timeline; the
	// report measures again at the end of the run.
	var stall time.Duration
	for _, c := range cons {
		d, _ := c.stallAfter(began, time.Now(), time.Now())
		stall = max(stall, d)
	}
	w.logf("whole again %.2fs after %s; stall %.2fs so far", whole.Seconds(), f.Kind, stall.Seconds())
	return recovery{kind: f.Kind, what: fmt.Sprintf("%s on %v (%v) %s", f.Kind, targets, f.Targets, class), class: class,
		owned: owned, began: began, over: over, whole: whole, settled: settled}
}

// wipe empties broker i's data directory: it comes back as a new member
// (its node id lived there) that holds nothing until it has fetched.
func (w *world) wipe(i int) {
	dir := filepath.Join(w.home, "data", fmt.Sprintf("node%d", i+1))
	if err := os.RemoveAll(dir); err != nil {
		w.t.Fatalf("wipe %s: %v", dir, err)
	}
}

// damage overwrites 512 bytes in the middle of the largest segment file of
// broker i (stopped), as a bad sector does.
func (w *world) damage(i int) {
	segs, _ := filepath.Glob(filepath.Join(w.home, "data", fmt.Sprintf("node%d", i+1), "*", "*.log"))
	var victim string
	var size int64
	for _, s := range segs {
		if st, err := os.Stat(s); err == nil && st.Size() > size && !strings.Contains(s, "__") {
			victim, size = s, st.Size()
		}
	}
	if size < 4096 {
		w.logf("damage: broker %d holds no segment worth damaging", i)
		return
	}
	f, err := os.OpenFile(victim, os.O_RDWR, 0)
	if err != nil {
		w.t.Fatalf("damage %s: %v", victim, err)
	}
	defer f.Close()
	junk := make([]byte, 512)
	for k := range junk {
		junk[k] = byte(k*131 + i)
	}
	if _, err := f.WriteAt(junk, size/2); err != nil {
		w.t.Fatalf("damage %s: %v", victim, err)
	}
	w.logf("damage: 512 bytes at %d of %s", size/2, victim)
}

func (w *world) healAll() {
	for i := 0; i < nBrokers; i++ {
		w.net.Heal(i)
		if w.isDown(i) {
			p := w.startBroker(i)
			w.mu.Lock()
			w.brokers[i], w.down[i] = p, false
			w.mu.Unlock()
		}
		w.broker(i).Signal(syscall.SIGCONT)
	}
}

// stopAll stops every broker cleanly, so their logs can be read.
func (w *world) stopAll() {
	for i := 0; i < nBrokers; i++ {
		w.broker(i).Signal(syscall.SIGTERM)
	}
	for i := 0; i < nBrokers; i++ {
		select {
		case <-w.broker(i).Done():
		case <-time.After(20 * time.Second):
			w.t.Fatalf("broker %d did not stop on SIGTERM", i)
		}
	}
}

// checkTopic checks a consumer's records: offsets 0, 1, 2, … (no gap, no
// duplicate), and every producer's lines 1..n each exactly once, in order.
func checkTopic(recs []rec, names []string, lines []int) error {
	next := map[string]int{}
	for i, r := range recs {
		if r.Offset != uint64(i) {
			return fmt.Errorf("record %d has offset %d (gap or duplicate)", i, r.Offset)
		}
		name, num, ok := strings.Cut(r.Payload, "-")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || !slices.Contains(names, name) {
			return fmt.Errorf("offset %d: unexpected payload %q", r.Offset, r.Payload)
		}
		if n != next[name]+1 {
			return fmt.Errorf("offset %d: %s line %d follows line %d (lost, repeated or reordered)", r.Offset, name, n, next[name])
		}
		next[name] = n
	}
	for i, name := range names {
		if next[name] != lines[i] {
			return fmt.Errorf("%s: consumer saw %d of %d acknowledged lines", name, next[name], lines[i])
		}
	}
	return nil
}

// checkLogs reads every broker's stored log of topic: each must agree with
// the consumed sequence on their common prefix, and a majority must hold all
// of it.
func (w *world) checkLogs(topic string, want []rec) error {
	full := 0
	for i := 0; i < nBrokers; i++ {
		dir := filepath.Join(w.home, "data", fmt.Sprintf("node%d", i+1))
		store, err := topiclog.OpenStore(dir, topiclog.Options{Logger: zerolog.Nop()})
		if err != nil {
			return fmt.Errorf("broker %d: %v", i+1, err)
		}
		log, ok := store.Lookup(topic)
		var got []string
		for off := uint64(0); ok && off < log.NextOffset(); {
			rs, err := log.Read(off, 10000, 4<<20)
			if err != nil || len(rs) == 0 {
				store.Close()
				return fmt.Errorf("broker %d: reading offset %d: %v", i+1, off, err)
			}
			for _, r := range rs {
				got = append(got, string(r.Payload))
			}
			off = rs[len(rs)-1].Offset + 1
		}
		store.Close()
		for k := 0; k < len(got) && k < len(want); k++ {
			if got[k] != want[k].Payload {
				return fmt.Errorf("broker %d holds %q at offset %d where consumers saw %q", i+1, got[k], k, want[k].Payload)
			}
		}
		if len(got) >= len(want) {
			full++
		}
	}
	if full < nBrokers/2+1 {
		return fmt.Errorf("only %d of %d brokers hold every committed record", full, nBrokers)
	}
	return nil
}

// fail keeps the run's history and fails the test.
func (w *world) fail(seed uint64, cons map[string]*consumed, format string, args ...any) {
	w.t.Helper()
	w.keep(seed, cons)
	w.t.Fatalf("seed %d: "+format, append([]any{seed}, args...)...)
}

// keep writes the run's history: timeline, broker logs, what was consumed.
func (w *world) keep(seed uint64, cons map[string]*consumed) {
	dir := *flagHistory
	if dir == "" {
		dir = filepath.Join("..", "..", "chaos-history")
	}
	dir = filepath.Join(dir, fmt.Sprintf("seed-%d-%s", seed, time.Now().Format("20060102-150405")))
	if err := os.MkdirAll(dir, 0o755); err == nil {
		w.mu.Lock()
		os.WriteFile(filepath.Join(dir, "timeline.txt"), []byte(strings.Join(w.events, "\n")+"\n"), 0o644)
		for i, b := range w.brokers {
			all := append(slices.Clone(w.past[i]), b.Stderr.String())
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("broker%d.log", i+1)), []byte(strings.Join(all, "")), 0o644)
		}
		w.mu.Unlock()
		for topic, c := range cons {
			var b strings.Builder
			for _, r := range c.snapshot() {
				fmt.Fprintf(&b, "%d %s\n", r.Offset, r.Payload)
			}
			os.WriteFile(filepath.Join(dir, "consumed-"+topic+".txt"), []byte(b.String()), 0o644)
		}
		w.t.Logf("history kept in %s", dir)
	}
}

// report prints each fault's recovery (stall) time, then their median and
// worst per kind of fault, and per kind and part played (leader, owner,
// follower; single or double), with the stall of the topics the targets did
// not own beside it.
func (w *world) report(rs []recovery) {
	t := w.t
	by := map[string][]time.Duration{}
	others := map[string][]time.Duration{}
	whole := map[string][]time.Duration{}
	for _, r := range rs {
		for _, key := range []string{string(r.kind), string(r.kind) + " " + r.class} {
			by[key] = append(by[key], r.stall)
			others[key] = append(others[key], r.others)
			whole[key] = append(whole[key], r.whole)
		}
		line := fmt.Sprintf("recovery of %-60s at t=%6.1fs: stall %5.2fs, unowned topics %5.2fs, whole again %5.2fs after", r.what, r.began.Sub(w.start).Seconds(), r.stall.Seconds(), r.others.Seconds(), r.whole.Seconds())
		if r.stall > 0 {
			line += fmt.Sprintf(" (%s, from t=%.1fs)", r.topic, r.stallFrom.Sub(w.start).Seconds())
		}
		t.Log(line)
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, o, h := by[k], others[k], whole[k]
		slices.Sort(d)
		slices.Sort(o)
		slices.Sort(h)
		t.Logf("recovery %-28s n=%2d median=%.2fs worst=%.2fs  unowned topics: median=%.2fs worst=%.2fs  whole again: median=%.2fs worst=%.2fs", k, len(d),
			d[len(d)/2].Seconds(), d[len(d)-1].Seconds(), o[len(o)/2].Seconds(), o[len(o)-1].Seconds(),
			h[len(h)/2].Seconds(), h[len(h)-1].Seconds())
	}
}
