package roles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/wire"
)

func producerApp(stdin io.Reader) *cli.App {
	return &cli.App{
		Name:  "producer",
		Usage: "send records to a LogStream topic",
		UsageText: "producer [-leader IP:PORT] [-topic T] [-rate N | -interval MS] [-count N] [-message TEXT]\n" +
			"   interactive (no -rate/-interval): one record per line of standard input, e.g. tail -f app.log | producer -topic logs;\n" +
			"   a line longer than the largest record (about -max-frame bytes) is reported in one line and, by -long-lines,\n" +
			"   skipped (the default), split into records of at most that size, or truncated to it; reading goes on",
		Flags: append(clientFlags(),
			&cli.Float64Flag{Name: "rate", Value: 0, Usage: "messages per second (0 = interactive: read standard input)"},
			&cli.IntFlag{Name: "interval", Value: 0, Usage: "milliseconds between messages (overrides -rate)"},
			&cli.Uint64Flag{Name: "count", Value: 0, Usage: "stop after this many acknowledged messages (0 = unlimited)"},
			&cli.StringFlag{Name: "message", Value: defaults.Message, Usage: "message template; {n} is replaced by the message number, {time} by the time (else \" #n\" is appended)"},
			&cli.StringFlag{Name: "long-lines", Value: longLinesWords[longSkip], Usage: "a line of standard input longer than the largest record: skip it, split it into records of at most that size, or truncate it to that size"},
		),
		Action: func(c *cli.Context) error { return runProducer(c, stdin) },
	}
}

// producerMain is the producer role's entry point.
func producerMain(args []string, stdout, stderr io.Writer) int {
	app := cliutil.Prepare(producerApp(os.Stdin), stdout, stderr)
	app.Name = args[0]
	return cliutil.Run(app, args)
}

// producerConfig is everything the producer's command line decides.
type producerConfig struct {
	client.Options
	Topic   string
	Period  time.Duration // 0: interactive, one record per line of stdin
	Count   uint64
	Message string
	Long    longLines // what to do with an over-long line of stdin
}

func parseProducer(c *cli.Context) (producerConfig, error) {
	o, err := clientOptions(c, wire.RoleProducer, "producer")
	if err != nil {
		return producerConfig{}, err
	}
	pc := producerConfig{Options: o, Topic: c.String("topic"), Count: c.Uint64("count"), Message: c.String("message")}
	if pc.Long, err = parseLongLines(c.String("long-lines")); err != nil {
		return pc, cliutil.UsageError("-long-lines", c.String("long-lines"), err.Error())
	}
	rate, interval := c.Float64("rate"), c.Int("interval")
	if rate < 0 || rate > 10_000_000 {
		return pc, cliutil.UsageError("-rate", fmt.Sprint(rate), "want 0 (interactive) to 10000000 messages per second")
	}
	if interval < 0 {
		return pc, cliutil.UsageError("-interval", fmt.Sprint(interval), "want milliseconds >= 0")
	}
	switch {
	case interval > 0:
		pc.Period = time.Duration(interval) * time.Millisecond
	case rate > 0:
		pc.Period = time.Duration(float64(time.Second) / rate)
	}
	return pc, nil
}

func runProducer(c *cli.Context, stdin io.Reader) error {
	pc, err := parseProducer(c)
	if err != nil {
		return err
	}
	cliutil.SignalReady() // the command line is good: logstreamctl may report us started
	o, period, count := pc.Options, pc.Period, pc.Count
	// The first Ctrl-C or SIGTERM stops sending (ctx); what was read or
	// sent is then delivered before we exit (see below). A second signal
	// abandons that (deliverCtx).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, stopSending := context.WithCancel(c.Context)
	defer stopSending()
	deliverCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	firstSig := make(chan os.Signal, 1)
	go func() {
		select {
		case s := <-sigs:
			firstSig <- s
			stopSending()
		case <-deliverCtx.Done():
			return
		}
		select {
		case <-sigs:
			abandon()
		case <-deliverCtx.Done():
		}
	}()
	p := client.NewProducer(o, client.ProducerOptions{Topic: pc.Topic})
	runCtx, cancelRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = p.Run(runCtx)
	}()
	defer func() {
		cancelRun()
		wg.Wait()
	}()
	o.Logger.Info().Str("producer", o.ClientID).Str("topic", pc.Topic).Msg("producer started")

	var sendErr error
	var lines *lineFeed
	if period == 0 {
		if f, ok := stdin.(*os.File); ok && cliutil.IsTerminal(f) {
			fmt.Fprintln(c.App.ErrWriter, "interactive mode: type a message and press Enter; Ctrl-D to finish")
		}
		lines = feedLines(deliverCtx, p, stdin, pc.Long, count, o.Logger)
		sendErr = lines.wait(ctx)
	} else {
		sendErr = produceTimed(ctx, p, period, count, pc.Message)
	}
	// Every record read or sent must be acknowledged before we exit, also
	// when the input failed. At the end of input, at -count, after an input
	// error or after Ctrl-C (a person, who may press it again) that wait is
	// bounded only by the reconnect attempts; after SIGTERM (a process
	// manager, which kills us if we linger) by stopGrace. Another signal
	// abandons the wait at once.
	stopSending()
	flushCtx := deliverCtx
	signalled := false
	select {
	case s := <-firstSig:
		signalled = true
		if s == syscall.SIGTERM {
			var cancel context.CancelFunc
			flushCtx, cancel = context.WithTimeout(flushCtx, stopGrace)
			defer cancel()
		}
	default:
	}
	if lines != nil {
		lines.stop(flushCtx)
	}
	if pending := p.Pending(); pending > 0 {
		o.Logger.Info().Int("pending", pending).Msg(waitingNote(signalled))
	}
	flushErr := p.Flush(flushCtx)
	cancelRun()
	wg.Wait()
	return producerOutcome(p, sendErr, flushErr, runErr, o.Logger)
}

// producerOutcome is how the producer ends: one line saying what was not
// delivered, or why input or sending stopped early, or nil after a clean run.
func producerOutcome(p *client.Producer, sendErr, flushErr, runErr error, log zerolog.Logger) error {
	if errors.Is(sendErr, context.Canceled) {
		sendErr = nil // a signal: not an error
	}
	switch {
	case flushErr != nil && sendErr != nil && !errors.Is(flushErr, sendErr):
		return cli.Exit(fmt.Sprintf("%v; %d records not acknowledged: %v", sendErr, p.Pending(), flushErr), 1)
	case flushErr != nil:
		return cli.Exit(fmt.Sprintf("%d records not acknowledged: %v", p.Pending(), flushErr), 1)
	case sendErr != nil:
		return cli.Exit(fmt.Sprintf("%v (the %d records before it were acknowledged)", sendErr, p.Acked()), 1)
	case runErr != nil:
		return cli.Exit(runErr.Error(), 1)
	}
	log.Info().Uint64("acknowledged", p.Acked()).Msg("producer done")
	return nil
}

// stopGrace bounds the wait for outstanding acknowledgements after SIGTERM;
// logstreamctl stop waits longer than this before it kills.
const stopGrace = 3 * time.Second

// lineFeed queues one record per line of standard input from a goroutine of
// its own (a terminal read cannot be interrupted, so it is never awaited).
// A line over the largest record is reported and skipped. Every line read
// before stop is queued: the goroutine holds hand at all times except while
// it waits in a read of the input, and stop takes hand. So stop returns
// once every whole line in what was read has been queued, and what a read
// returns after stop is dropped (the user asked us to stop before it came).
type lineFeed struct {
	hand    chan struct{} // a one-slot lock that stop can give up waiting for
	stopped atomic.Bool
	done    chan error // the input ended: nil at EOF or -count, else why
	lines   uint64     // the goroutine's: lines taken for the producer (queued, or in the batch being gathered)
	slabs   *ackedSlabs
}

// ackedSlabs recycles the feed's line slabs: a filled slab is reused once
// every line in it is acknowledged (records are acknowledged in order, and
// the producer lets go of a record once it is), so a long input costs no
// allocation per slab, nor the zeroing and garbage collection that came with
// one (a tenth of a piped producer's time). Only the feed's goroutine uses
// it; memory is what it was: the slabs of unacknowledged lines, and one more.
type ackedSlabs struct {
	acked func() uint64 // records of the producer acknowledged so far
	lines *uint64       // lines the feed has taken
	base  uint64        // records the producer held before the feed began
	full  []filledSlab  // in the order filled
}

type filledSlab struct {
	b    []byte
	need uint64 // acknowledged records that free it: its lines and all before
}

func (a *ackedSlabs) filled(b []byte) {
	a.full = append(a.full, filledSlab{b: b[:0], need: a.base + *a.lines})
}

func (a *ackedSlabs) get() []byte {
	if len(a.full) > 0 && a.acked() >= a.full[0].need {
		b := a.full[0].b
		a.full = append(a.full[:0], a.full[1:]...)
		return b
	}
	return make([]byte, 0, lineSlab)
}

// errStopped ends the reading goroutine after stop.
var errStopped = errors.New("stopped")

// feedLines starts reading in and queueing its lines on p (a line too long
// for one record handled as long says), up to count records (0: no limit).
// Queueing waits while p holds its most unacknowledged records, until ctx
// ends.
func feedLines(ctx context.Context, p *client.Producer, in io.Reader, long longLines, count uint64, log zerolog.Logger) *lineFeed {
	f := &lineFeed{hand: make(chan struct{}, 1), done: make(chan error, 1)}
	lr := newLineReader(handReader{in, f}, p.MaxRecordBytes(), long)
	f.slabs = &ackedSlabs{acked: p.Acked, lines: &f.lines, base: p.Acked() + uint64(p.Pending())}
	lr.slabs = f.slabs
	f.hand <- struct{}{}
	go func() {
		defer func() { <-f.hand }()
		f.done <- f.feed(ctx, p, lr, count, log)
	}()
	return f
}

// feedBatch bounds how many lines the feed hands to the producer at once.
const feedBatch = 1024

// feed queues lines until the input ends, -count lines are queued, Send
// fails or stop. The lines already buffered from one read are handed over
// together (one lock, one clock read and one wake-up of the sender for the
// lot, so they share their timestamp: the time they were queued), and
// always before next may block in a read: so a line waits for no later
// input, and the hand is never let go with lines held back.
func (f *lineFeed) feed(ctx context.Context, p *client.Producer, lr *lineReader, count uint64, log zerolog.Logger) error {
	batch := make([][]byte, 0, feedBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := p.SendAll(ctx, batch)
		clear(batch) // the producer holds the lines now, not us
		batch = batch[:0]
		return err
	}
	for n := uint64(0); count == 0 || n < count; {
		if len(batch) == feedBatch || !lr.ready() {
			if err := flush(); err != nil {
				return err
			}
		}
		line, long, err := lr.next()
		switch {
		case err == io.EOF:
			return flush()
		case errors.Is(err, errStopped):
			return err
		case err != nil:
			return fmt.Errorf("reading standard input after line %d: %w", lr.num, err)
		case long != nil:
			reportLongLine(log, lr, long)
		}
		if line == nil {
			continue // skipped
		}
		batch = append(batch, line)
		n++
		f.lines++
	}
	return flush()
}

// reportLongLine is the one warning per line too long for one record,
// saying what -long-lines did with it.
func reportLongLine(log zerolog.Logger, lr *lineReader, long *longLine) {
	const raise = "-max-frame, MAX_FRAME on the broker too, raises it"
	ev := log.Warn().Uint64("line", long.num).Int64("bytes", long.size).Int("limit", lr.limit)
	switch lr.mode {
	case longSplit:
		ev.Int("records", long.pieces).Msgf("line %d split into %d records: %d bytes, longer than the largest record (%d bytes; %s)",
			long.num, long.pieces, long.size, lr.limit, raise)
	case longTruncate:
		ev.Msgf("line %d truncated: %d bytes, longer than the largest record (%d bytes; %s); its first %d bytes were sent",
			long.num, long.size, lr.limit, raise, lr.limit)
	default:
		ev.Msgf("line %d skipped: %d bytes, longer than the largest record (%d bytes; %s; -long-lines split or truncate sends it)",
			long.num, long.size, lr.limit, raise)
	}
}

// handReader lets go of its feed's hand while it waits in a read, and
// refuses what the read returns once the feed is stopped.
type handReader struct {
	in io.Reader
	f  *lineFeed
}

func (r handReader) Read(b []byte) (int, error) {
	<-r.f.hand
	n, err := r.in.Read(b)
	r.f.hand <- struct{}{}
	if r.f.stopped.Load() {
		return 0, errStopped
	}
	return n, err
}

// wait returns when the input ends (its error, nil at EOF or -count) or ctx
// ends (ctx's error).
func (f *lineFeed) wait(ctx context.Context) error {
	select {
	case err := <-f.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop ends the reading: once it returns, every whole line read before it
// is queued, or ctx ended first.
func (f *lineFeed) stop(ctx context.Context) {
	f.stopped.Store(true)
	select {
	case f.hand <- struct{}{}:
		<-f.hand // the goroutine, back from its read, sees stopped and ends
	case <-ctx.Done():
	}
}

// produceTimed sends a templated message every period.
func produceTimed(ctx context.Context, p *client.Producer, period time.Duration, count uint64, template string) error {
	start := time.Now()
	tick := time.NewTicker(max(period, time.Millisecond))
	defer tick.Stop()
	var n uint64
	for count == 0 || n < count {
		// Send as many as the schedule says are due: fast rates need more
		// than one message per timer tick.
		due := uint64(time.Since(start)/period) + 1
		for n < due && (count == 0 || n < count) {
			n++
			if err := p.Send(ctx, []byte(expand(template, n))); err != nil {
				return err
			}
		}
		if count != 0 && n >= count {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func expand(template string, n uint64) string {
	if !strings.Contains(template, "{n}") && !strings.Contains(template, "{time}") {
		return template + " #" + strconv.FormatUint(n, 10)
	}
	s := strings.ReplaceAll(template, "{n}", strconv.FormatUint(n, 10))
	return strings.ReplaceAll(s, "{time}", time.Now().Format(time.RFC3339Nano))
}

// waitingNote is the line the producer logs while it waits for its last
// records to be acknowledged. "Again" only after a first signal: at the end of
// the input or at -count nobody has pressed Ctrl-C yet.
func waitingNote(signalled bool) string {
	if signalled {
		return "waiting for the broker to acknowledge the rest (Ctrl-C again to abandon)"
	}
	return "waiting for the broker to acknowledge the rest (Ctrl-C to abandon)"
}
