// Package client is the producer and consumer side of LogStream: finding the
// cluster, keeping one long-lived connection to the right broker, and
// carrying on through reconnects without losing or repeating a record.
package client

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/wire"

	"github.com/logstream/logstream/pkg/defaults"
)

// Options configure how a client finds and keeps its broker. They are plain
// data: what a running client learns and changes lives in its link.
type Options struct {
	ClientID      string
	Role          wire.Role
	Leader        string // explicit broker IP:PORT; empty means discover by broadcast
	BroadcastPort uint16
	LocalPort     uint16 // bind the outgoing connection to this port (NAT port forwarding)
	Advertise     string // address announced to the broker (NAT)

	HBInterval        time.Duration // how often we send HEARTBEAT
	HBTimeout         time.Duration // silence from the broker after which we reconnect
	ReconnectAttempts int
	ReconnectDelay    time.Duration
	MaxFrame          int
	// Key is the cluster key (LOGSTREAM_CLUSTER_KEY); nil talks to an open
	// cluster. A broker with another key refuses us: that is fatal, never
	// retried, and the error wraps wire.ErrAuth.
	Key *wire.Key

	Logger zerolog.Logger
	// Discover finds a broker address; nil means UDP broadcast discovery.
	Discover func(ctx context.Context) (string, error)
}

// Defaults fills the zero fields with the manual's defaults.
func (o *Options) Defaults() {
	if o.BroadcastPort == 0 {
		o.BroadcastPort = defaults.DiscoveryPort
	}
	if o.HBInterval <= 0 {
		o.HBInterval = defaults.ClientHB
	}
	if o.HBTimeout <= 0 {
		o.HBTimeout = defaults.ClientHBTimeout
	}
	if o.ReconnectAttempts <= 0 {
		o.ReconnectAttempts = defaults.ReconnectAttempts
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = defaults.ReconnectDelay
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.DefaultMaxFrame
	}
}

// redirectError says the broker we talk to is not the one for our topic.
type redirectError struct{ to string }

func (e *redirectError) Error() string { return "redirected to " + e.to }

// retryError is a transient refusal (no quorum, recovery in progress).
type retryError struct{ msg string }

func (e *retryError) Error() string { return e.msg }

// brokerError is any other error a broker answered with (an internal error,
// an unknown topic): the broker is there but refuses us, so retrying it at
// once would only hear the same answer.
type brokerError struct{ error }

// NewClientID returns name plus a random suffix, unique per process run, so
// a restarted producer never collides with its previous sequence numbers.
func NewClientID(name string) string {
	if name == "" {
		name = "client"
	}
	return name + "-" + strings.ToLower(crand.Text()[:8])
}

// ParseAddr checks an IP:PORT given by the user.
func ParseAddr(flag, s string) error {
	if _, err := netip.ParseAddrPort(s); err != nil {
		return fmt.Errorf("invalid value %q for %s: want IP:PORT such as 192.168.1.10:8001", s, flag)
	}
	return nil
}
