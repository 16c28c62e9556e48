// Command rawclient is the smallest LogStream producer: one framed
// connection to a broker, one PRODUCE of one record at a time, and the
// caller reads its PRODUCE_ACK itself — no session, no reader goroutine, no
// reconnects. scripts/bench-peers.sh runs it beside `logstream bench --sync`
// (the Producer) to split a one-at-a-time round trip between the broker and
// the client library: what it measures is the broker's share. It prints the
// measures as benchpeers lines ("logstream-min sync_p50_us V").
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "the broker")
	topic := flag.String("topic", "rawclient", "topic to produce to")
	count := flag.Int("count", 5000, "records, one at a time")
	size := flag.Int("size", 100, "record bytes")
	flag.Parse()
	if err := run(*addr, *topic, *count, *size); err != nil {
		fmt.Fprintln(os.Stderr, "rawclient:", err)
		os.Exit(1)
	}
}

func run(addr, topic string, count, size int) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	c := framed.NewWith(nc, framed.Options{Queue: 4, WriteTimeout: 10 * time.Second})
	defer c.Close()
	payload := make([]byte, size)
	lat := make([]time.Duration, 0, count)
	const producer = "rawclient"
	var body []byte
	for seq := 1; seq <= count; seq++ {
		t := time.Now()
		m := wire.Produce{Topic: topic, ProducerID: producer, Acks: 1,
			Records: []record.Record{{Timestamp: t.UnixNano(), ProducerID: producer, Seq: uint64(seq), Payload: payload}}}
		body = m.AppendTo(body[:0])
		if err := c.SendBorrowed(wire.Frame{Type: wire.TypeProduce, Corr: uint64(seq), Body: body}); err != nil {
			return err
		}
		if err := awaitAck(c, uint64(seq)); err != nil {
			return fmt.Errorf("record %d: %w", seq, err)
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	us := func(q float64) float64 { return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / 1e3 }
	fmt.Printf("logstream-min sync_p50_us %.3f\nlogstream-min sync_p99_us %.3f\n", us(0.5), us(0.99))
	return nil
}

// awaitAck reads frames until the acknowledgement of corr, skipping the
// broker's heartbeats.
func awaitAck(c *framed.Conn, corr uint64) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := c.Recv()
		if err != nil {
			return err
		}
		switch f.Type {
		case wire.TypeProduceAck:
			var ack wire.ProduceAck
			if err := ack.Unmarshal(f.Body); err != nil {
				return err
			}
			if ack.Code != wire.ErrNone {
				return fmt.Errorf("refused: %v %s", ack.Code, ack.Message)
			}
			if f.Corr != corr {
				return fmt.Errorf("acknowledgement of %d, want %d", f.Corr, corr)
			}
			return nil
		case wire.TypeError:
			return errors.New("broker answered ERROR")
		}
	}
}
