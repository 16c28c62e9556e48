// Command benchpeers measures NATS JetStream and Redis Streams the way
// `logstream bench` measures LogStream, and prints the medians of several
// rounds as one table. scripts/bench-peers.sh starts the servers inside a
// private network namespace and runs it; see that script.
//
// Every measure is printed as one line "SYSTEM MEASURE VALUE" on standard
// output, so rounds of all systems can be collected in one file and the
// table made from it:
//
//	benchpeers nats -addr 127.0.0.1:4222 -count 500000 -sync-count 5000
//	benchpeers redis -addr 127.0.0.1:6379 -count 500000 -sync-count 5000
//	benchpeers pingpong -sync-count 5000
//	benchpeers echo -addr 127.0.0.1:7000 &  benchpeers pingpong -remote -addr 127.0.0.1:7000 -sync-count 5000
//	logstream bench --format json ... | benchpeers fromjson logstream batched
//	benchpeers timecmd -system logstream -measure pipe_lines -count N -stdin FILE -- producer ...
//	benchpeers table results.txt
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchpeers nats|redis|pingpong|echo|fromjson|timecmd|table ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "nats":
		err = runNATS(os.Args[2:])
	case "redis":
		err = runRedis(os.Args[2:])
	case "pingpong":
		err = runPingPong(os.Args[2:])
	case "echo":
		err = runEcho(os.Args[2:])
	case "fromjson":
		err = fromJSON(os.Args[2:])
	case "timecmd":
		err = timeCmd(os.Args[2:])
	case "table":
		err = table(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		os.Exit(1)
	}
}

type common struct {
	addr      string
	count     int
	syncCount int
	size      int
	pending   int
}

func flags(name, addr string, args []string) (common, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	fs.StringVar(&c.addr, "addr", addr, "server address (loopback in the namespace)")
	fs.IntVar(&c.count, "count", 500000, "records for the pipelined run and the catch-up read")
	fs.IntVar(&c.syncCount, "sync-count", 5000, "records sent one at a time")
	fs.IntVar(&c.size, "size", 100, "record bytes")
	fs.IntVar(&c.pending, "pending", 256, "records in flight in the pipelined run")
	return c, fs.Parse(args)
}

func emit(system, measure string, v float64) { fmt.Printf("%s %s %.3f\n", system, measure, v) }

func pct(d []time.Duration, q float64) float64 {
	slices.Sort(d)
	i := min(len(d)-1, int(q*float64(len(d))))
	return float64(d[i]) / float64(time.Microsecond)
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// runNATS: a file-backed stream without limits; async publishes with
// c.pending acks outstanding; one publish at a time waiting for its ack; a
// pull consumer reading the whole stream back.
func runNATS(args []string) error {
	c, err := flags("nats", "127.0.0.1:4222", args)
	if err != nil {
		return err
	}
	nc, err := nats.Connect("nats://"+c.addr, nats.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(c.pending))
	if err != nil {
		return err
	}
	for _, s := range []string{"BATCH", "SYNC"} {
		js.DeleteStream(s)
		if _, err := js.AddStream(&nats.StreamConfig{Name: s, Subjects: []string{strings.ToLower(s)}, Storage: nats.FileStorage}); err != nil {
			return err
		}
	}
	p := payload(c.size)
	start := time.Now()
	for i := 0; i < c.count; i++ {
		if _, err := js.PublishAsync("batch", p); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("async publishes not acknowledged")
	}
	emit("nats", "acked_batched", float64(c.count)/time.Since(start).Seconds())

	lat := make([]time.Duration, 0, c.syncCount)
	for i := 0; i < c.syncCount; i++ {
		t := time.Now()
		if _, err := js.Publish("sync", p); err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
	}
	emit("nats", "sync_p50_us", pct(lat, 0.5))
	emit("nats", "sync_p99_us", pct(lat, 0.99))

	sub, err := js.PullSubscribe("batch", "reader", nats.BindStream("BATCH"), nats.AckNone())
	if err != nil {
		return err
	}
	start = time.Now()
	for got := 0; got < c.count; {
		msgs, err := sub.Fetch(1000, nats.MaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("fetch after %d: %w", got, err)
		}
		got += len(msgs)
	}
	emit("nats", "catchup_read", float64(c.count)/time.Since(start).Seconds())
	return nil
}

// runRedis: XADD pipelined c.pending at a time; XADD one at a time; XREAD
// of the whole stream back, 1000 entries per call.
func runRedis(args []string) error {
	c, err := flags("redis", "127.0.0.1:6379", args)
	if err != nil {
		return err
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: c.addr, PoolSize: 1})
	defer rdb.Close()
	rdb.Del(ctx, "batch", "sync")
	p := payload(c.size)
	start := time.Now()
	for done := 0; done < c.count; {
		n := min(c.pending, c.count-done)
		pipe := rdb.Pipeline()
		for i := 0; i < n; i++ {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: "batch", Values: []any{"d", p}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		done += n
	}
	emit("redis", "acked_batched", float64(c.count)/time.Since(start).Seconds())

	lat := make([]time.Duration, 0, c.syncCount)
	for i := 0; i < c.syncCount; i++ {
		t := time.Now()
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "sync", Values: []any{"d", p}}).Err(); err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
	}
	emit("redis", "sync_p50_us", pct(lat, 0.5))
	emit("redis", "sync_p99_us", pct(lat, 0.99))

	start = time.Now()
	last := "0"
	for got := 0; got < c.count; {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{"batch", last}, Count: 1000, Block: -1}).Result()
		if err != nil {
			return fmt.Errorf("xread after %d: %w", got, err)
		}
		msgs := res[0].Messages
		got += len(msgs)
		last = msgs[len(msgs)-1].ID
	}
	emit("redis", "catchup_read", float64(c.count)/time.Since(start).Seconds())
	return nil
}

// runPingPong is the floor under every one-at-a-time figure: size bytes to
// an echo server over loopback TCP and back, one at a time, the caller
// reading each answer itself. By default the echo runs in this process
// (system "tcp": the kernel's and one Go process's floor); with -remote it
// dials the echo server of another process at -addr (system "go-echo": the
// floor under any Go server process, a broker's included, which also pays
// for waking a second process).
func runPingPong(args []string) error {
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "where the in-process echo listens, or with -remote the echo server to dial")
	remote := fs.Bool("remote", false, "dial the echo server at -addr (benchpeers echo) instead of running one")
	syncCount := fs.Int("sync-count", 5000, "round trips")
	size := fs.Int("size", 100, "bytes per round trip")
	if err := fs.Parse(args); err != nil {
		return err
	}
	system, target := "tcp", *addr
	if *remote {
		system = "go-echo"
	} else {
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		defer ln.Close()
		go serveEcho(ln)
		target = ln.Addr().String()
	}
	conn, err := net.Dial("tcp", target)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, back := payload(*size), make([]byte, *size)
	lat := make([]time.Duration, 0, *syncCount)
	for i := 0; i < *syncCount; i++ {
		t := time.Now()
		if _, err := conn.Write(p); err != nil {
			return err
		}
		if _, err := io.ReadFull(conn, back); err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
	}
	emit(system, "sync_p50_us", pct(lat, 0.5))
	emit(system, "sync_p99_us", pct(lat, 0.99))
	return nil
}

// runEcho serves echo at -addr until killed: the other process of
// pingpong -remote.
func runEcho(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7000", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	serveEcho(ln)
	return nil
}

// serveEcho echoes every connection ln accepts, each on a goroutine of its
// own, until ln is closed.
func serveEcho(ln net.Listener) {
	for {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(s, s)
			s.Close()
		}()
	}
}

// fromJSON turns one `logstream bench --format json` report into measures:
// kind "batched" gives acked_batched, kind "sync" the p50 and p99.
func fromJSON(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: fromjson SYSTEM batched|sync < report.json")
	}
	var r struct {
		Rate float64            `json:"produce_records_per_second"`
		Ack  map[string]float64 `json:"ack_latency_us"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&r); err != nil {
		return err
	}
	switch args[1] {
	case "batched":
		emit(args[0], "acked_batched", r.Rate)
	case "sync":
		emit(args[0], "sync_p50_us", r.Ack["p50"])
		emit(args[0], "sync_p99_us", r.Ack["p99"])
	default:
		return fmt.Errorf("kind %q: want batched or sync", args[1])
	}
	return nil
}

// timeCmd runs a command (standard output to /dev/null) and emits count
// divided by its wall time.
func timeCmd(args []string) error {
	fs := flag.NewFlagSet("timecmd", flag.ContinueOnError)
	system := fs.String("system", "logstream", "")
	measure := fs.String("measure", "", "")
	count := fs.Int("count", 0, "items the command handles")
	stdin := fs.String("stdin", "", "file for its standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || *measure == "" || *count <= 0 {
		return fmt.Errorf("usage: timecmd -measure M -count N [-stdin F] -- command...")
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stderr = os.Stderr
	if *stdin != "" {
		f, err := os.Open(*stdin)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	emit(*system, *measure, float64(*count)/time.Since(start).Seconds())
	return nil
}

// table prints the medians of every SYSTEM MEASURE in the files, one row
// per measure, one column per system.
func table(files []string) error {
	vals := map[string]map[string][]float64{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			w := strings.Fields(sc.Text())
			if len(w) != 3 {
				continue
			}
			v, err := strconv.ParseFloat(w[2], 64)
			if err != nil {
				continue
			}
			if vals[w[1]] == nil {
				vals[w[1]] = map[string][]float64{}
			}
			vals[w[1]][w[0]] = append(vals[w[1]][w[0]], v)
		}
		f.Close()
	}
	systems := []string{"logstream", "logstream-min", "logstream-embedded", "nats", "redis", "go-echo", "tcp"}
	rows := []struct{ key, label string }{
		{"acked_batched", "1 broker: acknowledged records/s, batched/pipelined"},
		{"sync_p50_us", "1 broker: one at a time, ack p50 (µs)"},
		{"sync_p99_us", "1 broker: one at a time, ack p99 (µs)"},
		{"pipe_lines", "1 broker: producer fed by a pipe, lines/s"},
		{"catchup_read", "1 broker: catch-up read, records/s"},
		{"catchup_read_json", "1 broker: catch-up read as JSON, records/s"},
	}
	fmt.Printf("| measure (median of rounds) | %s |\n", strings.Join(systems, " | "))
	fmt.Printf("|---|%s\n", strings.Repeat("---|", len(systems)))
	for _, r := range rows {
		cells := make([]string, len(systems))
		for i, s := range systems {
			v := vals[r.key][s]
			if len(v) == 0 {
				cells[i] = "–"
				continue
			}
			slices.Sort(v)
			m := v[len(v)/2]
			if len(v)%2 == 0 {
				m = (v[len(v)/2-1] + v[len(v)/2]) / 2
			}
			cells[i] = fmt.Sprintf("%s (n=%d)", human(m, strings.HasSuffix(r.key, "_us")), len(v))
		}
		fmt.Printf("| %s | %s |\n", r.label, strings.Join(cells, " | "))
	}
	return nil
}

func human(v float64, micros bool) string {
	switch {
	case micros:
		return fmt.Sprintf("%.0f", v)
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
