package e2e

import (
	"bufio"
	"context"
	be "encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logstream/logstream/pkg/client"
	"github.com/logstream/logstream/pkg/cluster"
	"github.com/logstream/logstream/pkg/internal/testnet"
	"github.com/logstream/logstream/pkg/record"
	"github.com/logstream/logstream/pkg/udpnet"
	"github.com/logstream/logstream/pkg/wire"
)

// brokerRSSBound is the most resident memory the broker may use while it
// streams for one producer and one consumer and is attacked (see
// TestBadInput). The attack holds at most MAX_CONNECTIONS_PER_IP (64)
// connections, a few of them with a partly sent 4 MB frame; a healthy broker
// stays well under this.
const brokerRSSBound = 256 << 20

// producerPort is the producer's fixed local TCP port, so the attacker knows
// one of the clients' sockets.
const producerPort = 7001

// A broker, and a producer and a consumer streaming through it, keep
// working while a hostile host throws everything at every port: the broker
// (TCP 8001, UDP 8888 unicast and broadcast, multicast 239.0.0.1:9999) and
// the clients' hosts. Every process stays up, the broker's memory stays
// under brokerRSSBound, every record arrives exactly once, and the broker
// counts what it refused.
func TestBadInput(t *testing.T) {
	net4 := testnet.New(t, testnet.Options{Hosts: 4})
	home := []string{"LOGSTREAM_HOME=" + t.TempDir()}
	bh, ph, ch, evil := net4.Host(0), net4.Host(1), net4.Host(2), net4.Host(3)
	broker := start(t, bh, append(home, "CLIENT_HB_INTERVAL=1", "HANDSHAKE_TIMEOUT=2", "CLIENT_TIMEOUT=5"), "logstream")
	broker.waitLog("ClusterState", 10*time.Second)

	stop := make(chan struct{})
	var attackers sync.WaitGroup
	a := &attacker{t: t, h: evil, broker: netip.AddrPortFrom(bh.IP, 8001), bcast: bh.Broadcast,
		targets: []netip.Addr{bh.IP, ph.IP, ch.IP}, stop: stop, wg: &attackers}
	a.launch()
	defer func() {
		close(stop)
		attackers.Wait()
	}()

	// RSS is sampled throughout; the peak is checked at the end.
	var peak atomic.Int64
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			if v, err := vmRSS(broker.cmd.Process.Pid); err == nil && v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-broker.done:
				return
			case <-time.After(100 * time.Millisecond): // sampling period, not synchronisation
			}
		}
	}()

	const n = 10000
	// The clients find the broker by broadcast, through the JOIN flood.
	flags := []string{"-topic", "hostile", "-reconnect-delay", "1", "-reconnect-attempts", "30", "-hb-interval", "1", "-hb-timeout", "4"}
	cons := start(t, ch, home, "consumer", append(flags, "-analytics=false", "-format", "json", "-count", strconv.Itoa(n))...)
	prod := start(t, ph, home, "producer", append(flags, "-port", strconv.Itoa(producerPort))...)
	written := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := fmt.Fprintf(prod.stdin, "rec-%d\n", i); err != nil {
				written <- err
				return
			}
			if i%100 == 0 {
				time.Sleep(100 * time.Millisecond) // pacing: the stream lasts through the attack (~10 s)
			}
		}
		written <- prod.stdin.Close()
	}()
	if err := <-written; err != nil {
		t.Fatalf("writing to the producer: %v\nproducer stderr:\n%s", err, tail(prod.stderr.String(), 20))
	}
	if err := prod.wait(120 * time.Second); err != nil {
		t.Fatalf("producer: %v\n%s", err, tail(prod.stderr.String(), 20))
	}
	if err := cons.wait(120 * time.Second); err != nil {
		t.Fatalf("consumer: %v\n%s", err, tail(cons.stderr.String(), 20))
	}
	checkSequence(t, records(t, cons.stdout.String()), n, func(i int) string { return fmt.Sprintf("rec-%d", i) })

	select {
	case <-broker.done:
		t.Fatalf("the broker died under attack: %v", broker.Err())
	default:
	}
	// Asked from the producer's host: the attacker's own IP is at its
	// connection bound.
	counters := brokerCounters(t, ph, a.broker)
	close(stop)
	attackers.Wait()
	<-rssDone
	stop = make(chan struct{}) // for the deferred close, once nothing else reads stop
	t.Logf("broker peak RSS %d MiB (bound %d MiB); attacker: %s", peak.Load()>>20, brokerRSSBound>>20, a.summary())
	t.Logf("broker counters: %v", counters)
	if peak.Load() > brokerRSSBound {
		t.Errorf("broker RSS peaked at %d MiB, over the %d MiB bound", peak.Load()>>20, brokerRSSBound>>20)
	}
	for _, k := range []string{"bad_frames", "connections_refused", "handshake_timeouts", "wrong_state_frames",
		"multicast_bad", "discovery_malformed", "discovery_wrong_type", "discovery_rate_limited"} {
		if counters[k] == 0 {
			t.Errorf("counter %s is 0: that attack was not seen or not counted", k)
		}
	}
	if strings.Count(broker.stderr.String(), "\n") > 2000 {
		t.Errorf("broker wrote %d log lines: bad input is not rate-limited in the log", strings.Count(broker.stderr.String(), "\n"))
	}
}

// brokerCounters asks the broker for its counters from host h.
func brokerCounters(t *testing.T, h *testnet.Host, addr netip.AddrPort) map[string]uint64 {
	t.Helper()
	var md *wire.MetadataResponse
	err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		md, err = client.MetadataKeyed(ctx, addr.String(), 1<<20, nil)
		return err
	})
	if err != nil {
		t.Fatalf("metadata after the attack: %v", err)
	}
	return md.Counters
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// attacker runs every kind of hostile traffic from host h until stop closes.
// Each kind is a loop on its own goroutine, bounded by stop and by a count.
type attacker struct {
	t       *testing.T
	h       *testnet.Host
	broker  netip.AddrPort
	bcast   netip.Addr
	targets []netip.Addr // broker, producer and consumer hosts
	stop    chan struct{}
	wg      *sync.WaitGroup

	sent  sync.Map // kind -> *atomic.Int64
	maxed atomic.Int64
}

// maxRounds bounds every attack loop even if stop never came.
const maxRounds = 200000

func (a *attacker) count(kind string) {
	v, _ := a.sent.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (a *attacker) summary() string {
	var parts []string
	a.sent.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(parts, " ")
}

func (a *attacker) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

// loop runs fn repeatedly inside the attacking host's namespace (every
// socket it opens belongs there) with pause between rounds.
func (a *attacker) loop(kind string, pause time.Duration, fn func(r *rand.Rand) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := a.h.Do(func() error {
			r := rand.New(rand.NewPCG(uint64(len(kind)), 6))
			for i := 0; i < maxRounds && !a.stopped(); i++ {
				if err := fn(r); err == nil {
					a.count(kind)
				}
				if pause > 0 {
					select {
					case <-a.stop:
					case <-time.After(pause):
					}
				}
			}
			return nil
		})
		if err != nil {
			a.t.Errorf("attack %s: %v", kind, err)
		}
	}()
}

func (a *attacker) launch() {
	// TCP to the broker: one connection per round, written to and closed.
	for _, k := range []struct {
		kind string
		gen  func(r *rand.Rand) []byte
	}{
		{"tcp-random", randomBytes},
		{"tcp-truncated", func(r *rand.Rand) []byte {
			f := wire.AppendFrame(nil, wire.Encode(&wire.Metadata{}, 1))
			f = wire.AppendFrame(f, wire.Frame{Type: wire.TypeProduce, Body: make([]byte, 1000)})
			return f[:len(f)-1-r.IntN(900)]
		}},
		{"tcp-bad-magic", func(r *rand.Rand) []byte {
			f := wire.AppendFrame(nil, wire.Encode(&wire.Metadata{}, 1))
			f[0] ^= 0xff
			return f
		}},
		{"tcp-bad-version", func(r *rand.Rand) []byte {
			f := wire.AppendFrame(nil, wire.Encode(&wire.Metadata{}, 1))
			f[2] = 99
			return f
		}},
		{"tcp-bad-crc", func(r *rand.Rand) []byte {
			f := wire.AppendFrame(nil, wire.Encode(&wire.Heartbeat{NodeID: "x"}, 1))
			f[len(f)-1] ^= 1
			return f
		}},
		{"tcp-huge-length", func(r *rand.Rand) []byte {
			h := make([]byte, wire.HeaderSize)
			copy(h, wire.AppendFrame(nil, wire.Frame{Type: wire.TypeProduce}))
			be.BigEndian.PutUint32(h[14:], 0xfffffff0-uint32(r.IntN(1000)))
			return h
		}},
		{"tcp-wrong-state", a.wrongState},
		{"tcp-produce-abuse", produceAbuse},
	} {
		a.loop(k.kind, 2*time.Millisecond, func(r *rand.Rand) error { return a.tcpOnce(a.broker, k.gen(r)) })
	}
	// Partly sent frames of nearly MAX_FRAME that then stall: each holds up
	// to 4 MB of the broker's memory until its connection is dropped.
	a.loop("tcp-partial-4mb", 500*time.Millisecond, func(r *rand.Rand) error {
		c, err := net.DialTimeout("tcp", a.broker.String(), time.Second)
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			body := make([]byte, 3<<20)
			f := wire.AppendFrame(nil, wire.Frame{Type: wire.TypeProduce, Body: append(body, make([]byte, 1<<20-4096)...)})
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(f[:3<<20])
			select {
			case <-a.stop:
			case <-time.After(10 * time.Second):
			}
		}()
		return nil
	})
	// Slow loris: a header byte per second, never a whole frame.
	a.loop("slowloris", 200*time.Millisecond, func(r *rand.Rand) error {
		c, err := net.DialTimeout("tcp", a.broker.String(), time.Second)
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			hdr := wire.AppendFrame(nil, wire.Encode(&wire.Metadata{}, 1))
			for i := 0; i < len(hdr)-1; i++ {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(hdr[i : i+1]); err != nil {
					return
				}
				select {
				case <-a.stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
		return nil
	})
	// Thousands of connections, held open: the broker refuses beyond its
	// per-IP bound.
	a.loop("tcp-flood", 0, func(r *rand.Rand) error {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < 2000 && !a.stopped(); i++ {
			c, err := net.DialTimeout("tcp", a.broker.String(), time.Second)
			if err != nil {
				continue
			}
			conns = append(conns, c)
		}
		select {
		case <-a.stop:
		case <-time.After(3 * time.Second):
		}
		return nil
	})
	// TCP to the producer's fixed local port: nothing listens there, but it
	// is the clients' socket an attacker can name.
	a.loop("tcp-client-port", 20*time.Millisecond, func(r *rand.Rand) error {
		return a.tcpOnce(netip.AddrPortFrom(a.targets[1], producerPort), randomBytes(r))
	})

	// UDP: discovery port (unicast to every host and broadcast), multicast
	// group, and random ports on the clients' hosts.
	var udp *net.UDPConn
	if err := a.h.Do(func() error {
		var err error
		udp, err = udpnet.NewSender(a.h.IP)
		return err
	}); err != nil {
		a.t.Fatalf("attacker socket: %v", err)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		<-a.stop
		udp.Close()
	}()
	group := netip.MustParseAddrPort("239.0.0.1:9999")
	send := func(kind string, b []byte, to netip.AddrPort) {
		if udpnet.Send(udp, b, to, 100*time.Millisecond) == nil {
			a.count(kind)
		}
	}
	a.loop("udp", time.Millisecond, func(r *rand.Rand) error {
		for _, dst := range append([]netip.Addr{a.bcast}, a.targets...) {
			send("udp-random", randomBytes(r), netip.AddrPortFrom(dst, 8888))
			send("udp-join", wire.AppendFrame(nil, wire.Encode(&wire.Join{Role: wire.RoleProducer, NodeID: "evil", Nonce: r.Uint64()}, r.Uint64())), netip.AddrPortFrom(dst, 8888))
			send("udp-wrong-type", wire.AppendFrame(nil, wire.Encode(&wire.Metadata{}, 1)), netip.AddrPortFrom(dst, 8888))
			send("udp-port-spray", randomBytes(r), netip.AddrPortFrom(dst, uint16(32768+r.IntN(28000))))
		}
		send("mcast-random", randomBytes(r), group)
		for _, m := range strangerMessages(r) {
			send("mcast-stranger", wire.AppendFrame(nil, wire.Frame{Type: m.Type(), Body: m.AppendTo(nil)}), group)
		}
		return nil
	})
}

// tcpOnce connects to to, writes b and closes.
func (a *attacker) tcpOnce(to netip.AddrPort, b []byte) error {
	c, err := net.DialTimeout("tcp", to.String(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	_, err = c.Write(b)
	return err
}

func randomBytes(r *rand.Rand) []byte {
	b := make([]byte, 1+r.IntN(2000))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if r.IntN(2) == 0 && len(b) >= 4 { // sometimes the right magic and version, to get further
		be.BigEndian.PutUint16(b, wire.Magic)
		b[2] = wire.Version
	}
	return b
}

// strangerMessages are valid cluster messages from a node nobody knows.
func strangerMessages(r *rand.Rand) []cluster.Message {
	const stranger = cluster.NodeID(0x7eee_eeee)
	return []cluster.Message{
		&cluster.Replicate{From: stranger, View: 1 + r.Uint64N(3), Topic: "hostile", First: r.Uint64N(100), Commit: r.Uint64N(100),
			Records: []record.Record{{Seq: 1, ProducerID: "evil", Payload: []byte("forged")}}},
		&cluster.ViewInstall{From: stranger, View: 0, NewView: cluster.View{Number: 0, Leader: stranger,
			Members: []cluster.Member{{ID: stranger, Addr: "10.0.0.1:8001"}}}},
		&cluster.Coordinator{From: stranger, View: r.Uint64N(3), Leader: stranger},
		&cluster.Heartbeat{From: stranger, View: r.Uint64N(3), Leader: stranger, IsLeader: true, Addr: "10.0.0.1:8001"},
	}
}

// wrongState is a stream of valid frames that do not belong where they are
// sent: cluster messages from a stranger, then client requests on the same
// (now broker) connection.
func (a *attacker) wrongState(r *rand.Rand) []byte {
	var b []byte
	for _, m := range strangerMessages(r) {
		b = wire.AppendFrame(b, wire.Frame{Type: m.Type(), Body: m.AppendTo(nil)})
	}
	b = wire.AppendFrame(b, wire.Encode(&wire.Produce{Topic: "hostile", ProducerID: "evil", Acks: 1,
		Records: []record.Record{{Seq: 1, Payload: []byte("x")}}}, 2))
	return b
}

// produceAbuse is PRODUCE frames a client must not send: too many records
// in one frame, a reserved topic, a bad topic name.
func produceAbuse(r *rand.Rand) []byte {
	many := make([]record.Record, wire.MaxBatchRecords+1+r.IntN(100))
	b := wire.AppendFrame(nil, wire.Encode(&wire.Produce{Topic: "abuse", ProducerID: "evil", Acks: 1, Records: many}, 1))
	b = wire.AppendFrame(b, wire.Encode(&wire.Produce{Topic: "__reserved", ProducerID: "evil", Acks: 1}, 2))
	b = wire.AppendFrame(b, wire.Encode(&wire.Produce{Topic: "bad/../name", ProducerID: "evil", Acks: 1}, 3))
	return b
}
