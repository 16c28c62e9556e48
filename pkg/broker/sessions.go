package broker

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// topicSession is what one client connection did on one topic. Its start
// and its end (with counts) are one PRODUCE or CONSUME line each at info
// level, so `grep -E "PRODUCE|CONSUME|SUBSCRIBE" node.log` shows who
// produced or consumed what; the line per batch stays at debug.
type topicSession struct {
	verb    string // "PRODUCE" or "CONSUME"
	topic   string
	client  string
	started time.Time
	records atomic.Uint64 // acknowledged (PRODUCE) or delivered (CONSUME)
	dups    atomic.Uint64 // duplicates dropped (PRODUCE)
	refused atomic.Uint64 // records refused with an error (PRODUCE)
	// served is set once this broker served the session (a record
	// acknowledged or delivered); a producer only redirected to the topic's
	// owner (or refused during a view change) never started one here.
	served atomic.Bool
	log    zerolog.Logger
	peer   string
}

// serve counts records acknowledged or delivered, logging the session's
// start with the first. Safe from any goroutine.
func (s *topicSession) serve(records, dups uint64) {
	s.records.Add(records)
	s.dups.Add(dups)
	if records+dups > 0 && s.served.CompareAndSwap(false, true) {
		s.log.Info().Str("topic", s.topic).Str("client", s.client).Str("peer", s.peer).
			Msgf("%s started: %s on topic %s", s.verb, orUnnamed(s.client), s.topic)
	}
}

// session returns the connection's session for verb on topic, making it on
// first use. Serve-owned.
func (c *peer) session(verb, topic, client string) *topicSession {
	key := verb + "\x00" + topic
	if s, ok := c.sessions[key]; ok {
		return s
	}
	s := &topicSession{verb: verb, topic: topic, client: client, started: time.Now(), log: c.b.log, peer: c.conn.RemoteAddr().String()}
	if c.sessions == nil {
		c.sessions = map[string]*topicSession{}
	}
	c.sessions[key] = s
	return s
}

// endSessions logs the end of every session of the connection, with its
// counts (acknowledgements still in flight when it closed are not in them).
func (c *peer) endSessions() {
	keys := make([]string, 0, len(c.sessions))
	for k := range c.sessions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := c.sessions[k]
		if !s.served.Load() {
			continue
		}
		ev := c.b.log.Info().Str("topic", s.topic).Str("client", s.client).Stringer("peer", c.conn.RemoteAddr()).
			Uint64("records", s.records.Load()).Dur("duration", time.Since(s.started))
		if s.verb == "PRODUCE" {
			ev.Uint64("duplicates", s.dups.Load()).Uint64("refused", s.refused.Load()).
				Msgf("PRODUCE ended: %s on topic %s: %d records acknowledged, %d duplicates dropped, %d refused, in %s",
					orUnnamed(s.client), s.topic, s.records.Load(), s.dups.Load(), s.refused.Load(), time.Since(s.started).Round(time.Millisecond))
			continue
		}
		ev.Msgf("CONSUME ended: %s on topic %s: %d records delivered in %s",
			orUnnamed(s.client), s.topic, s.records.Load(), time.Since(s.started).Round(time.Millisecond))
	}
}

func orUnnamed(client string) string {
	if client == "" {
		return "an unnamed client"
	}
	return client
}
