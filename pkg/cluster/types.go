// Package cluster is the brokers' protocol logic — membership views, LCR
// election, view-synchronous recovery, topic ownership, replication and
// commit — as a deterministic state machine in the manner of etcd-io/raft:
// the runtime feeds it messages (Step) and clock ticks (Tick) and drains
// what it decided (Ready). It starts no goroutine, never reads the clock and
// never writes to storage, so the simulation in sim_test.go can replay any
// schedule from a seed.
//
// Storage: the node reads its logs (Log) but every write — appends, replica
// appends, truncations and resets, meta (the node's promise and view, a
// topic's epoch history), retention floors, repairs — is staged (staging.go)
// and handed out as Ready.Writes, in the order the node made them. The
// runtime (pkg/broker's cluster loop, or the simulation) applies them in
// that order with ApplyWrites, then sends Ready.Messages only if every
// write succeeded, gives Ready.Acks and Ready.Committed, and calls
// Node.Advance with the outcome, which drops the staging and applies the
// storage rule (storage.go): a clean data-write failure rolls the topic
// back to what its log holds and refuses the proposals it carried; any
// other failure stops the node (Ready.Fatal). Commits and acknowledgements
// count applied writes only.
package cluster

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/defaults"
	"github.com/logstream/logstream/pkg/record"
)

// NodeID is a broker's stable identity (persisted by the runtime). The LCR
// ring is ordered by NodeID; 0 is never a valid id (Envelope.To == 0 means
// multicast).
type NodeID uint64

// Member is one broker of a view.
type Member struct {
	ID   NodeID
	Addr string // advertised TCP address
}

// View is one membership epoch. Every change of membership, leader or topic
// assignment is a new View with a larger Number; the number doubles as the
// epoch stamped on records appended while it is current.
type View struct {
	Number  uint64
	Leader  NodeID
	Members []Member // sorted by ID
	// Prev (the anchor) lists the members of the last view known active when
	// this one was made. The view is only used to commit once a majority of
	// Prev also installed it, and a recovery based on a view not known active
	// also needs a majority of its Prev, so views that never activated cannot
	// lose what the last active view committed.
	Prev []NodeID
}

// Has reports whether id is a member of v.
func (v *View) Has(id NodeID) bool {
	_, ok := slices.BinarySearchFunc(v.Members, id, func(m Member, id NodeID) int { return cmpID(m.ID, id) })
	return ok
}

// Member returns the member with the given id.
func (v *View) Member(id NodeID) (Member, bool) {
	i, ok := slices.BinarySearchFunc(v.Members, id, func(m Member, id NodeID) int { return cmpID(m.ID, id) })
	if !ok {
		return Member{}, false
	}
	return v.Members[i], true
}

// IDs returns the member ids in ring order.
func (v *View) IDs() []NodeID {
	ids := make([]NodeID, len(v.Members))
	for i, m := range v.Members {
		ids[i] = m.ID
	}
	return ids
}

func (v View) clone() View {
	v.Members = slices.Clone(v.Members)
	v.Prev = slices.Clone(v.Prev)
	return v
}

func cmpID(a, b NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// majority is the smallest number of members that is more than half of n.
func majority(n int) int { return n/2 + 1 }

// Log is one topic's log. pkg/topiclog.*Log satisfies it.
//
// Retention may remove the oldest records (StartOffset moves up), but never
// one at or above the floor the node sets: its committed end, so only
// records a majority stored are ever trimmed.
type Log interface {
	NextOffset() uint64
	StartOffset() uint64
	Append(recs []record.Record) (first uint64, err error) // sets recs[i].Offset
	AppendAt(recs []record.Record) error                   // recs[0].Offset == NextOffset(), contiguous
	Read(from uint64, maxRecords, maxBytes int) ([]record.Record, error)
	// TruncateTo drops the records at offsets >= next; below StartOffset
	// that is all of them and the log continues, empty, at next.
	TruncateTo(next uint64) error
	// Reset drops every record and continues, empty, at start >=
	// NextOffset: a replica skips what its source no longer holds.
	Reset(start uint64) error
	// SetRetentionFloor forbids retention to remove offsets >= floor.
	SetRetentionFloor(floor uint64) error
	Meta() []byte
	SetMeta(b []byte) error
	// Holes lists the offsets storage damage cut out of the log and no
	// repair filled yet, in offset order. Read skips them (a batch never
	// spans one).
	Holes() []Range
	// RepairRange writes records a replica holds intact into a hole:
	// contiguous offsets inside one hole, durable when it returns.
	RepairRange(recs []record.Record) error
}

// Range is the offsets [From, To).
type Range struct{ From, To uint64 }

// Store holds the topic logs. The node keeps its own small persistent state
// (view, promise) in the Meta of the reserved topic StateTopic, so a restart
// never forgets a promise; Topics results starting with "__" are ignored.
type Store interface {
	Topic(name string) (Log, error)
	Topics() []string
}

// StateTopic is the reserved topic whose Meta holds the node's own state.
const StateTopic = "__cluster"

// Config configures a Node. Zero durations take the manual's defaults.
type Config struct {
	ID     NodeID
	Addr   string
	Name   string // this broker's name (NODE_NAME), for log lines only
	Logger zerolog.Logger

	BrokerHBInterval   time.Duration // leader → followers heartbeat (multicast); default 5 s
	FollowerHBInterval time.Duration // follower → leader heartbeat (unicast); default 2 s
	SuspicionTimeout   time.Duration // silence before "Leader suspected"; default 10 s
	FailureTimeout     time.Duration // silence before "LEADER FAILURE"; also the quorum-loss bound; default 15 s
	BrokerTimeout      time.Duration // silence before a member is removed from the view; default 30 s

	VirtualNodes int // consistent-hash vnodes per member (default 64)
	Store        Store

	// Detector judges other brokers' liveness; nil means a PhiDetector
	// from the intervals and timeouts above (what brokers run).
	Detector Detector
	// MaxBatch bounds records per REPLICATE/FETCH_RESPONSE (default 256) and
	// MaxBatchBytes their encoded size (default 48 KiB, so a REPLICATE fits a
	// UDP datagram).
	MaxBatch      int
	MaxBatchBytes int

	// NewClusterID draws the identity of a cluster this node bootstraps
	// (default: crypto/rand). The simulation injects a seeded source.
	NewClusterID func() uint64
}

func (c *Config) setDefaults() error {
	if c.ID == 0 {
		return errors.New("cluster: node id must be non-zero")
	}
	if c.Store == nil {
		return errors.New("cluster: Store is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BrokerHBInterval, defaults.BrokerHBInterval)
	def(&c.FollowerHBInterval, defaults.FollowerHBInterval)
	def(&c.SuspicionTimeout, defaults.SuspicionTimeout)
	def(&c.FailureTimeout, defaults.FailureTimeout)
	def(&c.BrokerTimeout, defaults.BrokerTimeout)
	if c.FailureTimeout < c.SuspicionTimeout {
		return fmt.Errorf("cluster: failure timeout %v is shorter than suspicion timeout %v", c.FailureTimeout, c.SuspicionTimeout)
	}
	if c.VirtualNodes <= 0 {
		c.VirtualNodes = 64
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 48 << 10
	}
	if c.NewClusterID == nil {
		c.NewClusterID = randomClusterID
	}
	if c.Detector == nil {
		c.Detector = NewPhiDetector(c.FollowerHBInterval, c.SuspicionTimeout, c.FailureTimeout)
	}
	return nil
}

// Errors returned by Propose (and carried by failed Acks).
var (
	ErrFrozen   = errors.New("cluster: view change in progress; retry")
	ErrNoQuorum = errors.New("cluster: cannot reach a majority of the view")
	// ErrOutOfOrder refuses a batch that skips sequence numbers of its
	// producer: an earlier batch failed while this one was in flight. The
	// producer resends from its oldest unacknowledged record; accepting the
	// later batch would make the earlier one look like a duplicate.
	ErrOutOfOrder = errors.New("cluster: records out of order; resend from the oldest unacknowledged")
)

// NotOwnerError redirects a producer to the topic's owner.
type NotOwnerError struct{ Owner Member }

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("cluster: not the owner; owner is %d at %s", e.Owner.ID, e.Owner.Addr)
}

// Envelope is one message to send. To == 0 means multicast to all members of
// the current view.
type Envelope struct {
	To  NodeID
	Msg Message
}

// Ack reports the fate of one Propose call, identified by its token.
type Ack struct {
	Token      uint64
	Topic      string
	BaseOffset uint64 // offset of the first new record (or of the last duplicate if none are new)
	Count      uint32 // records in the batch, duplicates included
	Duplicates uint32
	Err        error // nil: committed; ErrFrozen/ErrNoQuorum: not known to be committed, retry
}

// TopicCommit is a topic's committed prefix: offsets below Committed.
type TopicCommit struct {
	Topic     string
	Committed uint64
}

// Ready is the output drained by Node.Ready, in the manner of etcd raft's:
// Writes first, then what may only follow them.
type Ready struct {
	// Writes must be made durable, in this order, before any of Messages
	// is sent (ApplyWrites does both rules: order, and what a failure
	// skips); then the runtime reports the outcome with Node.Advance. If
	// any write failed, no message of this Ready may be sent: a follower's
	// REPLICATE_ACK, an owner's REPLICATE, a STATE_EXCHANGE answer may all
	// rest on a write that did not happen.
	Writes   []Write
	Messages []Envelope
	// Acks and Committed count only writes applied before this Ready (the
	// node counts commits over applied writes), so the runtime gives them
	// once the writes were attempted, whatever their outcome.
	Acks      []Ack
	Committed []TopicCommit // topics whose committed end changed since the last Ready
	View      *View         // non-nil when a new view was installed, or the remembered one restored at start
	// Fatal, once set, says the node stopped (see Node.failStop): the
	// runtime must stop the broker with this error.
	Fatal error
}

// Role is what a node currently does.
type Role uint8

const (
	RoleJoining   Role = iota // not a member of any installed view
	RoleFollower              // member, leader known
	RoleCandidate             // election or recovery under way (frozen)
	RoleLeader                // leader of the installed view
)

func (r Role) String() string {
	switch r {
	case RoleJoining:
		return "joining"
	case RoleFollower:
		return "follower"
	case RoleCandidate:
		return "candidate"
	case RoleLeader:
		return "leader"
	}
	return "unknown"
}

// MemberStatus is a member and how this node judges it.
type MemberStatus struct {
	Member
	Liveness Liveness
}

// TopicStatus is one topic as this node sees it.
type TopicStatus struct {
	Topic     string
	Owner     NodeID
	Next      uint64
	Committed uint64
	Synced    bool // caught up with the view's agreed log
}

// Status is a snapshot for `logstreamctl status` and metadata responses.
type Status struct {
	ID      NodeID
	Cluster uint64 // the cluster's identity (0: none yet)
	Role    Role
	Frozen  bool // recovery in progress or view not yet active: no commits
	View    View
	Leader  NodeID
	Members []MemberStatus
	Topics  []TopicStatus
	// Detections are this node's latest failure verdicts, oldest first (at
	// most maxDetections): whom, in what part, after how much silence.
	Detections []Detection
}

// Detection is one failure verdict: Peer, which was the leader, a topic's
// owner or a plain member, was judged failed (or timed out of the view)
// after Silent without a message from it.
type Detection struct {
	Peer   Member
	Role   string // "leader", "owner" or "member"
	Silent time.Duration
	At     time.Time
	// Verdict is "failed" (the failure detector: the leader's failure, or
	// an owner whose topics move) or "timed out" (BROKER_TIMEOUT: removed).
	Verdict string
}

// maxDetections bounds Status.Detections.
const maxDetections = 8
