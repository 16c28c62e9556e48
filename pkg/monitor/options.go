package monitor

import (
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/defaults"
)

// Options configure a broker's monitoring listener. Every default lives in
// DefaultOptions; the broker's command line only overrides Address, Pprof
// and (through the cluster key) Token.
type Options struct {
	// Address is where to listen (--monitor-address, MONITOR_ADDRESS). The
	// zero value is the default: no listener. Nothing is ever bound on all
	// interfaces unless the operator gives such an address.
	Address netip.AddrPort
	// Pprof serves /debug/pprof/ too (--monitor-pprof, MONITOR_PPROF).
	Pprof bool
	// Token, when not empty, is the bearer token every endpoint but /healthz,
	// /readyz and the dashboard page wants (wire.Key.MonitorToken).
	Token string

	ReadHeaderTimeout time.Duration // a request's headers must arrive within this (slow-loris)
	WriteTimeout      time.Duration // longest answer; above pprof's default 30 s CPU profile
	IdleTimeout       time.Duration // keep-alive connections idle longer are closed
	MaxHeaderBytes    int
	// HealthTimeout bounds how long /healthz waits for the cluster loop.
	HealthTimeout time.Duration
	// HealthCache reuses a /healthz verdict this long, so probes cannot make
	// the broker write to its disk more often than that.
	HealthCache time.Duration
	// MaxScrapes bounds /metrics requests served at once; more get 503.
	MaxScrapes int

	Logger zerolog.Logger
}

// DefaultOptions returns the monitor's defaults (off until Address is set).
func DefaultOptions() Options {
	return Options{
		ReadHeaderTimeout: defaults.MonitorReadHeaderTimeout,
		WriteTimeout:      defaults.MonitorWriteTimeout,
		IdleTimeout:       defaults.MonitorIdleTimeout,
		MaxHeaderBytes:    defaults.MonitorMaxHeaderBytes,
		HealthTimeout:     defaults.MonitorHealthTimeout,
		HealthCache:       defaults.MonitorHealthCache,
		MaxScrapes:        defaults.MonitorMaxScrapes,
		Logger:            zerolog.Nop(),
	}
}

// Enabled reports whether a listener is wanted.
func (o *Options) Enabled() bool { return o.Address.IsValid() }
