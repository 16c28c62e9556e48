package cluster

import (
	"testing"
	"time"
)

// maxAckGap is the longest time between two acknowledgements from ackedAt
// on, counting from since.
func maxAckGap(ackedAt []time.Time, since, until time.Time) time.Duration {
	var worst time.Duration
	prev := since
	for _, at := range ackedAt {
		if at.Before(since) {
			continue
		}
		worst = max(worst, at.Sub(prev))
		prev = at
	}
	return max(worst, until.Sub(prev))
}

// A plain follower (neither leader nor the topic's owner) of five that goes
// silent and comes back: a majority rides through it, so the topic's
// acknowledgements do not stop for a failure timeout, and nothing is lost.
func TestFollowerFaultDoesNotStallTheTopic(t *testing.T) {
	for _, how := range []string{"pause", "partition"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t, 5)
			leader := c.leader(1)
			topic, owner := topicOfFollower(c)
			var victim NodeID
			for _, id := range c.s.ids {
				if id != leader && id != owner {
					victim = id
					break
				}
			}
			p := &failoverProducer{c: c, topic: topic}
			p.until("first batches committed", 2*time.Second, func() bool { return len(p.acked) >= 4 })
			t0 := c.s.now
			var rest []NodeID
			for _, id := range c.s.ids {
				if id != victim {
					rest = append(rest, id)
				}
			}
			if how == "pause" {
				c.s.pause(victim)
			} else {
				c.s.partition([]NodeID{victim}, rest)
			}
			p.run(1500 * time.Millisecond) // past the broker timeout (800 ms): it is removed
			if how == "pause" {
				c.s.resume(victim)
			} else {
				c.s.heal()
			}
			p.run(1500 * time.Millisecond) // it comes back and rejoins
			gap := maxAckGap(p.ackedAt, t0, c.s.now)
			t.Logf("%s of follower %d: longest pause between acknowledgements %v (failure timeout %v)", how, victim, gap, c.s.cfg.FailureTimeout)
			// Simulated time: a liveness property, not a speed target. The
			// two view changes (removal at the broker timeout, rejoin) cost
			// a few round trips each, never a failure timeout.
			if gap >= c.s.cfg.FailureTimeout {
				t.Errorf("a follower %s stalled the topic for %v", how, gap)
			}
			p.checkLog(rest...)
		})
	}
}
