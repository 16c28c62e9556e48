// Package broker is a LogStream broker: it accepts producers and consumers on
// one TCP port, answers discovery on the UDP broadcast port, stores every
// topic in a durable log and streams committed records and live analytics.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/discovery"
	"github.com/logstream/logstream/pkg/topiclog"
)

// Broker is one broker process. New prepares it; Run serves until its
// context ends. All goroutines a Broker starts are started by Run and have
// returned when Run returns.
type Broker struct {
	cfg   Config
	log   zerolog.Logger
	store *topiclog.Store
	lock  *dirLock // held on cfg.DataDir from New until Run returns

	ln      net.Listener
	started time.Time

	mu      sync.Mutex
	clients map[*peer]struct{}
	subs    map[*subscription]struct{}
	shares  shareRegistry // shared consumer groups coordinated here (groupshare.go)

	counters  counters
	conns     *connLimiter
	rlog      *rateLog
	discovery *discovery.Responder
	cluster   *clusterRepl
	elect     chan string
	watch     clusterWatch // cluster events and counts for monitors (observe.go)
}

// counters are the broker's monotonic event counts, shown by status.
type counters struct {
	connections, badFrames, produced, duplicates, delivered, subscriptions atomic.Uint64
	clientTimeouts                                                         atomic.Uint64

	// Hostile input and bounds hit (see limits.go).
	authFailures      atomic.Uint64 // TCP frames refused for their key tag
	connsRefused      atomic.Uint64 // connections over MAX_CONNECTIONS(_PER_IP)
	handshakeTimeouts atomic.Uint64 // connections that sent no whole frame in time
	backpressure      atomic.Uint64 // times a producer's connection stopped being read
	tooManyRecords    atomic.Uint64 // PRODUCE frames over wire.MaxBatchRecords
	wrongState        atomic.Uint64 // valid frames refused where they came from
	slowClients       atomic.Uint64 // clients cut off for not reading
	udpBad            atomic.Uint64 // multicast datagrams that are not frames
	udpAuthFailures   atomic.Uint64 // multicast datagrams refused for their key tag
	udpReplayed       atomic.Uint64 // multicast datagrams seen before
	logDropped        atomic.Uint64 // repeated log lines discarded (floodGuard)
	parked            atomic.Uint64 // produce batches held through a view change instead of refused (park.go)
}

func (c *counters) snapshot() map[string]uint64 {
	return map[string]uint64{
		"connections": c.connections.Load(), "bad_frames": c.badFrames.Load(),
		"records_produced": c.produced.Load(), "duplicates_dropped": c.duplicates.Load(),
		"records_delivered": c.delivered.Load(), "subscriptions": c.subscriptions.Load(),
		"client_timeouts": c.clientTimeouts.Load(),
		"auth_failures":   c.authFailures.Load(), "connections_refused": c.connsRefused.Load(),
		"handshake_timeouts": c.handshakeTimeouts.Load(), "produce_backpressure": c.backpressure.Load(),
		"produce_too_many_records": c.tooManyRecords.Load(), "wrong_state_frames": c.wrongState.Load(),
		"slow_clients_dropped": c.slowClients.Load(), "multicast_bad": c.udpBad.Load(),
		"multicast_auth_failures": c.udpAuthFailures.Load(), "multicast_replayed": c.udpReplayed.Load(),
		"log_lines_dropped": c.logDropped.Load(), "produce_parked": c.parked.Load(),
	}
}

// New opens the broker's data directory and binds its TCP port, so a busy
// port or an unwritable directory is reported before anything runs.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	made := false
	defer func() {
		if !made {
			lock.release()
		}
	}()
	store, err := topiclog.OpenStore(cfg.DataDir, topiclog.Options{
		MaxRecords: cfg.MaxRecords, Flush: cfg.Flush, FlushEvery: cfg.FlushEvery,
		Logger: cfg.Logger.With().Str("component", "topiclog").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.DataDir, err)
	}
	ln, err := net.Listen("tcp", cfg.Listen.String())
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	b := &Broker{
		cfg: cfg, log: cfg.Logger.With().Str("component", "broker").Logger(), store: store, ln: ln, lock: lock,
		clients: map[*peer]struct{}{},
		elect:   make(chan string, 1),
		conns:   newConnLimiter(cfg.MaxConns, cfg.MaxConnsPerIP),
	}
	b.watch.obs = cfg.Observer
	b.rlog = newRateLog(b.log, logEvery)
	if cfg.Listen.Port() == 0 { // an ephemeral port (tests): advertise the one we got
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		b.cfg.Listen = netip.AddrPortFrom(cfg.Listen.Addr(), port)
		if b.cfg.Advertise.Port() == 0 {
			b.cfg.Advertise = netip.AddrPortFrom(cfg.Advertise.Addr(), port)
		}
	}
	if err := b.listenDiscovery(); err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	if b.cluster, err = newClusterRepl(b, store); err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	made = true
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// TriggerElection asks the broker to start a leader election.
func (b *Broker) TriggerElection(why string) {
	select {
	case b.elect <- why:
	default: // one is already pending
	}
}

// Run serves until ctx is done, then closes every connection and the store.
func (b *Broker) Run(ctx context.Context) error {
	b.started = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 5)
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	b.log.Info().Str("address", b.cfg.Advertise.String()).Str("listen", b.ln.Addr().String()).
		Str("node_id", idString(b.cluster.id)).Str("data_dir", b.cfg.DataDir).Stringer("broadcast", b.cfg.Broadcast).
		Uint16("broadcast_port", b.cfg.BroadcastPort).Stringer("multicast", b.cfg.Multicast).Msg("broker started")
	if b.cfg.Key == nil {
		b.log.Warn().Msg("cluster is open: no cluster key, so anyone who can reach this broker may join, produce and consume " +
			"(set LOGSTREAM_CLUSTER_KEY or --cluster-key-file on every broker and client to close it)")
	} else {
		b.log.Info().Msg("cluster key set: every frame is authenticated")
	}
	run("cluster", b.cluster.run)
	run("discovery", b.serveDiscovery)
	run("accept", b.acceptLoop)
	run("offsets", b.compactOffsets)
	<-ctx.Done()
	b.ln.Close()
	b.closeClients()
	wg.Wait()
	close(errc)
	err := <-errc
	if cerr := b.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	b.lock.release()
	b.log.Info().Msg("broker stopped")
	return err
}

func (b *Broker) acceptLoop(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			b.log.Warn().Err(err).Msg("accept failed; retrying")
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		ip := remoteIP(nc)
		if bound := b.conns.acquire(ip); bound != "" {
			b.counters.connsRefused.Add(1)
			b.rlog.warn("connections").Str("bound", bound).Stringer("peer", nc.RemoteAddr()).
				Int("open", b.conns.open()).Msg("connection refused: " + bound + " reached")
			b.conns.refuse(nc, b.refusalFrame(bound), &wg)
			continue
		}
		b.counters.connections.Add(1)
		c := b.newClient(nc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.conns.release(ip)
			c.serve(ctx)
		}()
	}
}

func (b *Broker) closeClients() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.clients {
		c.conn.Close()
	}
}
