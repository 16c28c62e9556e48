// Package monitor is a broker's monitoring listener: Prometheus metrics,
// health and readiness probes, the status JSON of `logstreamctl status
// --json`, a live cluster dashboard and, on request, pprof. It only reads
// what the broker already publishes (broker.Snapshot) plus the few
// measurements it hands to a broker.Observer (Metrics).
package monitor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/broker"
	"github.com/logstream/logstream/pkg/statusreport"
)

// Source is what the monitor reads; *broker.Broker is one.
type Source interface {
	Snapshot() broker.Snapshot
	Events() []broker.ClusterEvent
	CheckHealth(ctx context.Context) error
}

// Server is a bound monitoring listener.
type Server struct {
	opts Options
	m    *Metrics
	ln   net.Listener
	log  zerolog.Logger
}

// Listen binds opts.Address, so a busy or wrong address is reported before
// the broker starts. m receives the broker's measurements (Config.Observer).
func Listen(opts Options, m *Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", opts.Address.String())
	if err != nil {
		return nil, fmt.Errorf("--monitor-address (MONITOR_ADDRESS) %s: %w", opts.Address, err)
	}
	return &Server{opts: opts, m: m, ln: ln, log: opts.Logger.With().Str("component", "monitor").Logger()}, nil
}

// Serve answers requests about src until ctx ends, then closes the listener
// and waits (bounded) for requests in progress.
func (s *Server) Serve(ctx context.Context, src Source) error {
	srv := &http.Server{
		Handler:           newHandler(src, s.m, s.opts),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          log.New(s.log, "", 0), // net/http's own complaints, as log lines of ours
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ev := s.log.Info().Str("address", s.ln.Addr().String()).Bool("pprof", s.opts.Pprof).Bool("token", s.opts.Token != "")
	ev.Msg("monitor listening: /metrics /healthz /readyz /status /events and the dashboard at /")
	if ip := s.opts.Address.Addr(); ip.IsUnspecified() {
		s.log.Warn().Str("address", s.ln.Addr().String()).Msg("monitor listens on every interface")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close releases the listener of a server that will not Serve.
func (s *Server) Close() error { return s.ln.Close() }

// newHandler serves the monitoring endpoints for src.
func newHandler(src Source, m *Metrics, opts Options) http.Handler {
	h := &handler{src: src, opts: opts, health: healthCache{ttl: opts.HealthCache}}
	if opts.Token != "" {
		sum := sha256.Sum256([]byte(opts.Token))
		h.tokenSum = sum[:]
	}
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(m.Registry(src), promhttp.HandlerOpts{
		MaxRequestsInFlight: opts.MaxScrapes, Timeout: 10 * time.Second, ErrorHandling: promhttp.ContinueOnError,
	})
	mux.Handle("/metrics", h.guard(metrics))
	mux.HandleFunc("/healthz", h.healthz)
	mux.HandleFunc("/readyz", h.readyz)
	mux.Handle("/status", h.guard(http.HandlerFunc(h.status)))
	mux.Handle("/events", h.guard(http.HandlerFunc(h.events)))
	mux.HandleFunc("/{$}", dashboard)
	if opts.Pprof {
		mux.Handle("/debug/pprof/", h.guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", h.guard(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", h.guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", h.guard(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", h.guard(http.HandlerFunc(pprof.Trace)))
	}
	return readOnly(mux)
}

type handler struct {
	src      Source
	opts     Options
	tokenSum []byte // sha256 of the token; nil: no token wanted
	health   healthCache
}

// readOnly refuses every method but GET and HEAD.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the bearer token (or none is wanted).
func (h *handler) authorized(r *http.Request) bool {
	if h.tokenSum == nil {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum) == 1
}

func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="logstream"`)
			http.Error(w, "unauthorized: this cluster has a key; send Authorization: Bearer $(logstreamctl monitor-token)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthCache keeps a /healthz verdict for ttl: a probe storm cannot make
// the broker write its disk more often than that.
type healthCache struct {
	ttl time.Duration

	mu   sync.Mutex
	at   time.Time
	err  error
	done bool
}

func (c *healthCache) check(ctx context.Context, src Source, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done && time.Since(c.at) < c.ttl {
		return c.err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.err, c.at, c.done = src.CheckHealth(cctx), time.Now(), true
	return c.err
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

// healthz: 200 while the process serves (its cluster loop answers) and its
// data directory takes a write; 503 otherwise. Like every probe, it answers
// without a token; the reason is only given to a caller with the token.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if err := h.health.check(r.Context(), h.src, h.opts.HealthTimeout); err != nil {
		msg := "unhealthy"
		if h.authorized(r) {
			msg += ": " + err.Error()
		}
		plain(w, http.StatusServiceUnavailable, msg)
		return
	}
	plain(w, http.StatusOK, "ok")
}

// readyz: 200 when the broker is a member of an active view and every topic
// it holds is caught up; 503 before it joins and during a view change.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	snap := h.src.Snapshot()
	ok, why := snap.Ready()
	code, msg := http.StatusOK, "ready"
	if !ok {
		code, msg = http.StatusServiceUnavailable, "not ready"
	}
	if h.authorized(r) {
		msg += ": " + why
	}
	plain(w, code, msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

// status is `logstreamctl status --json` as this broker answers it.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	snap := h.src.Snapshot()
	writeJSON(w, statusreport.OfBroker(&snap.Meta, snap.Time))
}

// eventsReport is /events: this broker's health as the dashboard shows it
// and the recent cluster events it saw.
type eventsReport struct {
	Time        time.Time             `json:"time"`
	NodeID      string                `json:"node_id"`
	Addr        string                `json:"addr"`
	Role        string                `json:"role"`
	Frozen      bool                  `json:"frozen"`
	Ready       bool                  `json:"ready"`
	ReadyReason string                `json:"ready_reason"`
	Connections int                   `json:"open_connections"`
	Peers       []peerReport          `json:"peers"`
	Events      []broker.ClusterEvent `json:"events"`
}

// peerReport is a member as this broker's failure detector judges it.
type peerReport struct {
	ID                  string   `json:"id"`
	Addr                string   `json:"addr"`
	State               string   `json:"state"`
	HeartbeatAgeSeconds *float64 `json:"heartbeat_age_seconds,omitempty"`
	Phi                 *float64 `json:"phi,omitempty"` // absent when not judged or infinite
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	snap := h.src.Snapshot()
	ok, why := snap.Ready()
	rep := eventsReport{Time: snap.Time, NodeID: snap.Meta.NodeID, Addr: snap.Meta.Addr, Role: snap.Role, Frozen: snap.Frozen,
		Ready: ok, ReadyReason: why, Connections: snap.OpenConnections, Peers: []peerReport{}, Events: h.src.Events()}
	for _, p := range snap.Peers {
		pr := peerReport{ID: p.ID, Addr: p.Addr, State: p.Liveness}
		if p.Judged {
			age := p.HeartbeatAge.Seconds()
			pr.HeartbeatAgeSeconds = &age
			if phi := p.Phi; !math.IsInf(phi, 0) && !math.IsNaN(phi) {
				pr.Phi = &phi
			}
		}
		rep.Peers = append(rep.Peers, pr)
	}
	writeJSON(w, rep)
}
