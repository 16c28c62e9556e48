// Package phi implements phi-accrual failure detection (Hayashibara et al.,
// "The φ Accrual Failure Detector", 2004) as a pure formula, a small
// heartbeat history and a Detector that turns phi and the configured
// timeouts into a verdict.
//
// Instead of a yes/no timeout, the detector says how unlikely the current
// silence is given the heartbeat intervals seen so far: phi = -log10(P), where
// P is the probability that a heartbeat arrives later than the silence
// already observed. phi = 1 means a 10% chance the node is merely late,
// phi = 5 a 0.001% chance, phi = 8 one in a hundred million. A regular network
// therefore detects a dead node quickly, and a jittery one waits longer, with
// no retuning.
//
// Nothing here reads a clock, starts a timer or touches a socket: the owner
// calls History.Heartbeat when a heartbeat arrives and Detector.Judge on its
// own ticks, both with times it supplies.
package phi
