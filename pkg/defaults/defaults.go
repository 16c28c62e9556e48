// Package defaults is the one home of LogStream's defaults and bounds, in the
// manner of memberlist's DefaultLANConfig: every value a flag, an environment
// variable, a Config or Options struct, a validator or the README names is
// written here once, with why it is what it is. Everything else refers to it;
// defaults_test.go in pkg/roles and pkg/internal/ctl checks that the command lines,
// their --help and the README's tables agree.
//
// It imports nothing of ours and does no I/O, so any package may use it,
// pkg/cluster's pure core included.
package defaults

import (
	"regexp"
	"time"
)

// Ports and groups (the manual's).
const (
	// BrokerPort is a broker's TCP port when NODE_ADDRESS/--address names
	// none; logstreamctl starts its search for a free port here.
	BrokerPort = 8001
	// DiscoveryPort is the UDP broadcast port of discovery (BROADCAST_PORT,
	// --broadcast-port) on every role.
	DiscoveryPort = 8888
	// MulticastGroup carries heartbeats and REPLICATE (MULTICAST_GROUP);
	// 239.0.0.0/8 is administratively scoped, so it stays on the LAN.
	MulticastGroup = "239.0.0.1:9999"
)

// Broker timing (the manual's table). The detector condemns a leader no
// sooner than SuspicionTimeout and declares it failed after FailureTimeout;
// FailureTimeout >= SuspicionTimeout is required. BrokerTimeout is
// 6 x BrokerHBInterval: six missed heartbeats before a member is removed.
const (
	BrokerHBInterval   = 5 * time.Second  // leader -> follower HEARTBEAT (BROKER_HB_INTERVAL)
	ClientHBInterval   = 10 * time.Second // leader -> client HEARTBEAT (CLIENT_HB_INTERVAL)
	BrokerTimeout      = 30 * time.Second // silence before a broker is removed (BROKER_TIMEOUT)
	ClientTimeout      = 30 * time.Second // silence before a client connection is dropped (CLIENT_TIMEOUT)
	FollowerHBInterval = 2 * time.Second  // follower -> leader HEARTBEAT (FOLLOWER_HB_INTERVAL)
	SuspicionTimeout   = 10 * time.Second // silence before the leader is suspected (SUSPICION_TIMEOUT)
	FailureTimeout     = 15 * time.Second // silence before the leader is declared failed (FAILURE_TIMEOUT)
	AnalyticsWindow    = 60 * time.Second // analytics window when a consumer names none (ANALYTICS_WINDOW_SECONDS)

	// MaxSeconds bounds every whole-seconds setting (one day): longer is a
	// typing mistake, and it keeps seconds x time.Second far from overflow.
	MaxSeconds = 86400
)

// Broker storage and resources.
const (
	// MaxRecordsPerTopic is the retention: each topic keeps its newest N
	// records (MAX_RECORDS_PER_TOPIC, --max-records; 0 = unlimited).
	MaxRecordsPerTopic = 10000
	// FlushPolicy is FLUSH_POLICY's default: the page cache, with replicas
	// for durability (see README "What an acknowledgement means").
	FlushPolicy = "none"
	// FlushInterval is the fsync period of FLUSH_POLICY=interval.
	FlushInterval = time.Second

	// MaxFrame is the largest frame body accepted (MAX_FRAME, --max-frame,
	// -max-frame): 4 MiB, so a record of up to about that size fits.
	MaxFrame = 4 << 20
	// MinFrame is the smallest MAX_FRAME accepted: a frame must carry a
	// whole status or JOIN answer and a record of a useful size.
	MinFrame = 4096
	// MaxFrameLimit is the largest MAX_FRAME accepted (1 GiB): a frame is
	// held whole in memory.
	MaxFrameLimit = 1 << 30

	MaxConnections      = 1024             // connections accepted at once (MAX_CONNECTIONS)
	MaxConnectionsPerIP = 64               // from one IP (MAX_CONNECTIONS_PER_IP); <= MaxConnections
	HandshakeTimeout    = 10 * time.Second // a new connection's first whole frame (HANDSHAKE_TIMEOUT)
	// MaxInFlightRecords is how many records one producer connection may
	// have unacknowledged before the broker stops reading it
	// (MAX_INFLIGHT_RECORDS): 64 Ki, four full PRODUCE batches.
	MaxInFlightRecords = 1 << 16
	// MaxCountSetting bounds the count settings above (16 Mi): beyond it a
	// value is a mistake, not a configuration.
	MaxCountSetting = 1 << 24
)

// Client (producer and consumer) settings, the manual's.
const (
	Topic = "logs" // -topic, TOPIC
	// ClientHB is how often a client sends HEARTBEAT (-hb-interval).
	ClientHB = 2 * time.Second
	// ClientHBTimeout is the broker silence after which a client reconnects
	// (-hb-timeout). It must exceed ClientHB; when -hb-interval alone is
	// raised to or past it, the timeout becomes 3 x the interval.
	ClientHBTimeout   = 10 * time.Second
	ReconnectAttempts = 10              // attempts before giving up (-reconnect-attempts)
	ReconnectDelay    = 5 * time.Second // longest pause between attempts (-reconnect-delay); pauses grow from ReconnectFirstDelay
	// ReconnectFirstDelay is the first pause after a failed attempt; it
	// doubles up to ReconnectDelay.
	ReconnectFirstDelay = 100 * time.Millisecond
	Message             = "log message" // producer -message template
	// ClientDialTimeout bounds a client's first dial of a broker, or of one
	// it was redirected to.
	ClientDialTimeout = 5 * time.Second
	// ClientRedialTimeout bounds a reconnecting client's dial of a broker it
	// already knows: a LAN answers in milliseconds, and a broker that is cut
	// off must not hold the client for the dial's own 5 s.
	ClientRedialTimeout = time.Second
	// ClientProbeAfter is the broker silence, in -hb-interval beats, after
	// which a client asks another broker whether its topic still lives on
	// its broker (the cluster moves it away from a failed owner), rather
	// than wait out -hb-timeout. Two beats, as the brokers' own floor.
	ClientProbeAfter = 2
)

// Producer batching (client.ProducerOptions; logstream bench's --batch and
// --inflight show the same values).
const (
	// ProducerBatchRecords and ProducerBatchBytes bound one PRODUCE frame:
	// 1000 records of 100 bytes fill about 110 KB, large enough that the
	// per-frame cost (a read, two writes, an acknowledgement) is spread thin,
	// small enough that a batch is a fraction of MaxFrame.
	ProducerBatchRecords = 1000
	ProducerBatchBytes   = 1 << 20
	// ProducerInFlight is how many PRODUCE frames a producer keeps awaiting
	// their acknowledgement: enough to keep a LAN round trip busy, and with
	// ProducerBatchRecords half of MaxInFlightRecords, so a default producer
	// never meets the broker's bound.
	ProducerInFlight = 32
	// ProducerMaxPending bounds the records a producer holds queued or
	// unacknowledged; Send blocks beyond it (it is the producer's memory).
	ProducerMaxPending = 100000
)

// How a topic's owner replicates to the other brokers.
const (
	// ReplicateBatchRecords and ReplicateBatchBytes bound one REPLICATE
	// (or a FETCH answer between brokers): a default PRODUCE batch of
	// 1000 records of 100 bytes leaves as one frame to each member, which
	// stores it with one write and acknowledges it once (at 256 records
	// and 48 KiB, the sizes of a multicast datagram, it took four of
	// each). The broker lowers the bytes to half of MAX_FRAME.
	ReplicateBatchRecords = 1024
	ReplicateBatchBytes   = 192 << 10
	// LinkQueueBytes bounds the frames waiting for one peer broker. A full
	// queue drops (the member fetches the gap) rather than holding the
	// owner back, so a member that stops reading costs this much memory
	// at most.
	LinkQueueBytes = 64 << 20
)

// What a broker sends a consumer (SUBSCRIBE, FETCH) and the analytics it
// computes for it.
const (
	// SubscribeBatch is the records per RECORDS frame when the consumer
	// names no batch size.
	SubscribeBatch = 1000
	// MaxReplyRecords bounds the records in one RECORDS frame or FETCH
	// answer whatever the client asks for; wire.MaxBatchRecords, what a
	// decoder accepts, stays above it.
	MaxReplyRecords = 10000
	// AnalyticsInterval is how often a subscription with analytics gets a
	// STATS frame when the consumer names no interval (-interval 0).
	AnalyticsInterval = time.Second
	// MinAnalyticsInterval is the shortest interval a broker honours: more
	// often is more than a terminal shows, and costs a frame per
	// subscription each time.
	MinAnalyticsInterval = 50 * time.Millisecond
	// MaxAnalyticsInterval is the longest -interval a consumer accepts.
	MaxAnalyticsInterval = time.Hour
)

// Names.
const (
	// NamePattern is what a process name (--name, NODE_NAME) may look like:
	// it names a data directory, a pid and a log file and prefixes client
	// ids, so nothing that could climb out of a directory (no '/', no
	// leading '.'), 1-64 characters.
	NamePattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`
	// NameRule says NamePattern in words, for error messages.
	NameRule = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
	// MaxTopicName bounds a topic name: it becomes a directory name, and
	// 200 leaves room under NAME_MAX (255) for any suffix.
	MaxTopicName = 200
)

// Monitoring listener (MONITOR_ADDRESS; off by default).
const (
	MonitorReadHeaderTimeout = 5 * time.Second  // a request's headers must arrive within this (slow-loris)
	MonitorWriteTimeout      = 60 * time.Second // longest answer: above pprof's default 30 s CPU profile
	MonitorIdleTimeout       = 60 * time.Second // idle keep-alive connections are closed after this
	MonitorMaxHeaderBytes    = 16 << 10         // request headers
	MonitorHealthTimeout     = 2 * time.Second  // /healthz waits this long for the cluster loop
	// MonitorHealthCache reuses a /healthz verdict this long, so probes
	// cannot make the broker write to its disk more often than that.
	MonitorHealthCache = time.Second
	MonitorMaxScrapes  = 4 // /metrics requests served at once; more get 503
)

// Seconds returns d in whole seconds, for flags that take seconds.
func Seconds(d time.Duration) int { return int(d / time.Second) }

var nameRE = regexp.MustCompile(NamePattern)

// ValidName reports whether name matches NamePattern.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Shared consumer groups (several members of one group on one topic; see
// pkg/groups.Share and README "Consumer groups").
const (
	// GroupLeaseTimeout is how long a member of a shared group may keep
	// records it was given without acknowledging any: after it, they are
	// redelivered to another member. A member that closes its connection
	// (stops, is killed) gives them back at once; the timeout is for a
	// member cut off without its connection closing. NATS JetStream's
	// AckWait is 30 s; 10 s bounds the stall a vanished member causes while
	// leaving a slow but working member (one that acknowledges something,
	// which renews all its leases) alone.
	GroupLeaseTimeout = 10 * time.Second
	// GroupLeasesPerMember is how many batches a member may hold
	// unacknowledged at once: enough to keep one fast member streaming
	// (the next batch is on the wire while it writes the last), few enough
	// that a newcomer gets work within a batch or so.
	GroupLeasesPerMember = 4
	// GroupAckInterval is the least time between two positions a consumer
	// of a group (client.GroupCommitter) stores while it runs; closing it
	// stores the last one at once. A consumer killed without closing
	// delivers again at most what it printed in this interval plus the
	// batch it was printing.
	GroupAckInterval = 100 * time.Millisecond
)

// CtlStartWait bounds how long `logstreamctl start ... --background` waits
// for the daemon to say it is running (or to exit, which is then reported as
// a failed start). A broker says so once it has opened and checked its logs
// and listens, which takes milliseconds unless its logs are large; past the
// bound logstreamctl reports it started and still starting up.
const CtlStartWait = 10 * time.Second
