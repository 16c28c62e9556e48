package broker

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/topiclog"
	"github.com/logstream/logstream/pkg/wire"
)

// Config is everything a broker needs. Defaults live in DefaultConfig; the
// command line only overrides them.
type Config struct {
	Name string // process name, also names the data directory

	// Listen is the TCP address to bind; Advertise the one given to peers
	// and clients (they differ behind NAT or when binding 0.0.0.0).
	Listen    netip.AddrPort
	Advertise netip.AddrPort
	// Broadcast is the subnet broadcast address discovery answers on and
	// joins to (127.255.255.255 in the no-network fallback).
	Broadcast     netip.Addr
	BroadcastPort uint16
	Multicast     netip.AddrPort
	Leader        string // explicit leader (bypasses broadcast)

	DataDir         string
	MaxRecords      int64
	Flush           topiclog.FlushPolicy
	FlushEvery      time.Duration
	AnalyticsWindow time.Duration
	MaxFrame        int

	BrokerHBInterval   time.Duration
	ClientHBInterval   time.Duration
	BrokerTimeout      time.Duration
	ClientTimeout      time.Duration
	FollowerHBInterval time.Duration
	SuspicionTimeout   time.Duration
	FailureTimeout     time.Duration

	// Key, if set, seals and checks every frame to and from this broker
	// (TCP and UDP); nil runs an open cluster.
	Key *wire.Key

	// Resource bounds (see limits.go for what happens when one is hit).
	MaxConns           int           // client and peer connections in total
	MaxConnsPerIP      int           // connections from one IP address
	HandshakeTimeout   time.Duration // a new connection's first whole frame must arrive within this
	MaxInFlightRecords int           // records of one connection proposed and not yet acknowledged

	// GroupLeaseTimeout is how long a member of a shared consumer group may
	// hold records without acknowledging any before they are redelivered
	// (groups.Share); 0 means defaults.GroupLeaseTimeout.
	GroupLeaseTimeout time.Duration

	Logger zerolog.Logger

	// Observer, if set, receives the measurements snapshots cannot give
	// (acknowledgement latency, per-topic traffic, recovery durations); see
	// observe.go. nil (the default) takes none.
	Observer Observer
}

// DefaultConfig returns the manual's defaults, as pkg/defaults states them.
func DefaultConfig() Config {
	return Config{
		BroadcastPort:      defaults.DiscoveryPort,
		Multicast:          netip.MustParseAddrPort(defaults.MulticastGroup),
		MaxRecords:         defaults.MaxRecordsPerTopic,
		Flush:              topiclog.FlushNever,
		FlushEvery:         defaults.FlushInterval,
		AnalyticsWindow:    defaults.AnalyticsWindow,
		MaxFrame:           defaults.MaxFrame,
		BrokerHBInterval:   defaults.BrokerHBInterval,
		ClientHBInterval:   defaults.ClientHBInterval,
		BrokerTimeout:      defaults.BrokerTimeout,
		ClientTimeout:      defaults.ClientTimeout,
		FollowerHBInterval: defaults.FollowerHBInterval,
		SuspicionTimeout:   defaults.SuspicionTimeout,
		FailureTimeout:     defaults.FailureTimeout,
		MaxConns:           defaults.MaxConnections,
		MaxConnsPerIP:      defaults.MaxConnectionsPerIP,
		HandshakeTimeout:   defaults.HandshakeTimeout,
		MaxInFlightRecords: defaults.MaxInFlightRecords,
		GroupLeaseTimeout:  defaults.GroupLeaseTimeout,
		Logger:             zerolog.Nop(),
	}
}

// Validate reports the first setting that cannot work, named as the user
// typed it.
func (c *Config) Validate() error {
	switch {
	case !c.Listen.IsValid():
		return fmt.Errorf("NODE_ADDRESS: no address to listen on")
	case c.DataDir == "":
		return fmt.Errorf("DATA_DIR: empty")
	case c.MaxRecords < 0:
		return fmt.Errorf("MAX_RECORDS_PER_TOPIC: %d is negative", c.MaxRecords)
	case c.FailureTimeout < c.SuspicionTimeout:
		return fmt.Errorf("FAILURE_TIMEOUT (%s) must not be shorter than SUSPICION_TIMEOUT (%s)", c.FailureTimeout, c.SuspicionTimeout)
	case c.MaxFrame < defaults.MinFrame:
		return fmt.Errorf("MAX_FRAME: %d is too small", c.MaxFrame)
	case c.MaxFrame > defaults.MaxFrameLimit:
		return fmt.Errorf("MAX_FRAME: %d is more than 1 GiB", c.MaxFrame)
	case c.MaxConns < 1:
		return fmt.Errorf("MAX_CONNECTIONS: %d, want 1 or more", c.MaxConns)
	case c.MaxConnsPerIP < 1 || c.MaxConnsPerIP > c.MaxConns:
		return fmt.Errorf("MAX_CONNECTIONS_PER_IP: %d, want 1 to MAX_CONNECTIONS (%d)", c.MaxConnsPerIP, c.MaxConns)
	case c.HandshakeTimeout <= 0:
		return fmt.Errorf("HANDSHAKE_TIMEOUT: must be positive")
	case c.MaxInFlightRecords < 1:
		return fmt.Errorf("MAX_INFLIGHT_RECORDS: %d, want 1 or more", c.MaxInFlightRecords)
	}
	for name, d := range map[string]time.Duration{
		"BROKER_HB_INTERVAL": c.BrokerHBInterval, "CLIENT_HB_INTERVAL": c.ClientHBInterval,
		"BROKER_TIMEOUT": c.BrokerTimeout, "CLIENT_TIMEOUT": c.ClientTimeout,
		"FOLLOWER_HB_INTERVAL": c.FollowerHBInterval, "SUSPICION_TIMEOUT": c.SuspicionTimeout,
		"FAILURE_TIMEOUT": c.FailureTimeout, "ANALYTICS_WINDOW_SECONDS": c.AnalyticsWindow,
	} {
		if d <= 0 {
			return fmt.Errorf("%s: must be positive", name)
		}
	}
	return nil
}
