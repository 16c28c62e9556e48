package roles

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/cliutil"
	"github.com/logstream/logstream/pkg/wire"
)

func producerApp(stdin io.Reader) *cli.App {
	return &cli.App{
		Name:  "producer",
		Usage: "send records to a LogStream topic",
		UsageText: "producer [-leader IP:PORT] [-topic T] [-rate N | -interval MS] [-count N] [-message TEXT]\n" +
			"   interactive (no -rate/-interval): one record per line of standard input, e.g. tail -f app.log | producer -topic logs",
		Flags: append(clientFlags(),
			&cli.Float64Flag{Name: "rate", Value: 0, Usage: "messages per second (0 = interactive: read standard input)"},
			&cli.IntFlag{Name: "interval", Value: 0, Usage: "milliseconds between messages (overrides -rate)"},
			&cli.Uint64Flag{Name: "count", Value: 0, Usage: "stop after this many acknowledged messages (0 = unlimited)"},
			&cli.StringFlag{Name: "message", Value: "log message", Usage: "message template; {n} is replaced by the message number, {time} by the time (else \" #n\" is appended)"},
		),
		Action: func(c *cli.Context) error { return runProducer(c, stdin) },
	}
}

// RunProducer is the producer role's entry point.
func RunProducer(args []string, stdout, stderr io.Writer) int {
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
}

func parseProducer(c *cli.Context) (producerConfig, error) {
	o, err := clientOptions(c, wire.RoleProducer, "producer")
	if err != nil {
		return producerConfig{}, err
	}
	pc := producerConfig{Options: o, Topic: c.String("topic"), Count: c.Uint64("count"), Message: c.String("message")}
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
	o, period, count := pc.Options, pc.Period, pc.Count
	// The first Ctrl-C or SIGTERM stops sending; what was sent is then
	// delivered before we exit (see below). A later signal abandons that.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, stopSending := context.WithCancel(c.Context)
	defer stopSending()
	firstSig := make(chan os.Signal, 1)
	go func() {
		select {
		case s := <-sigs:
			firstSig <- s
			stopSending()
		case <-ctx.Done():
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
	if period == 0 {
		sendErr = produceLines(ctx, p, stdin, count, o.MaxFrame, c.App.ErrWriter)
	} else {
		sendErr = produceTimed(ctx, p, period, count, pc.Message)
	}
	if sendErr != nil && !errors.Is(sendErr, context.Canceled) {
		return cli.Exit(sendErr.Error(), 1)
	}
	// Every record sent must be acknowledged before we exit. At the end of
	// input, at -count or after Ctrl-C (a person, who may press it again)
	// that wait is bounded only by the reconnect attempts; after SIGTERM (a
	// process manager, which kills us if we linger) by stopGrace. Another
	// signal abandons the wait at once.
	stopSending()
	var stopSig os.Signal
	select {
	case stopSig = <-firstSig:
	default:
	}
	flushCtx, cancelFlush := context.WithCancel(context.Background())
	defer cancelFlush()
	go func() {
		select {
		case <-sigs:
			cancelFlush()
		case <-flushCtx.Done():
		}
	}()
	if stopSig == syscall.SIGTERM {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(flushCtx, stopGrace)
		defer cancel()
	}
	if pending := p.Pending(); pending > 0 {
		o.Logger.Info().Int("pending", pending).Msg("waiting for the broker to acknowledge the rest (Ctrl-C again to abandon)")
	}
	if err := p.Flush(flushCtx); err != nil {
		return cli.Exit(fmt.Sprintf("%d records not acknowledged: %v", p.Pending(), err), 1)
	}
	cancelRun()
	wg.Wait()
	if runErr != nil {
		return cli.Exit(runErr.Error(), 1)
	}
	o.Logger.Info().Uint64("acknowledged", p.Acked()).Msg("producer done")
	return nil
}

// produceLines sends one record per line of in until EOF, ctx ends, or
// count records are sent.
// stopGrace bounds the wait for outstanding acknowledgements after SIGTERM;
// logstreamctl stop waits longer than this before it kills.
const stopGrace = 3 * time.Second

func produceLines(ctx context.Context, p *client.Producer, in io.Reader, count uint64, maxFrame int, stderr io.Writer) error {
	if f, ok := in.(*os.File); ok && cliutil.IsTerminal(f) {
		fmt.Fprintln(stderr, "interactive mode: type a message and press Enter; Ctrl-D to finish")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxFrame)
	lines := make(chan []byte)
	scanErr := make(chan error, 1)
	go func() { // ends at EOF; a terminal read cannot be interrupted, so not awaited
		defer close(lines)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			select {
			case lines <- line:
			case <-ctx.Done():
				return
			}
		}
		scanErr <- sc.Err()
	}()
	var n uint64
	for count == 0 || n < count {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok := <-lines:
			if !ok {
				if err := <-scanErr; err != nil {
					return fmt.Errorf("reading standard input: %w", err)
				}
				return nil
			}
			if err := p.Send(ctx, line); err != nil {
				return err
			}
			n++
		}
	}
	return nil
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
