// Package analytics computes live windowed statistics of one topic's record
// stream on the broker: counts, rates, byte rates, per-producer counts and a
// sparkline of recent activity.
//
// A Window keeps a ring of time buckets, so Add is O(1) amortised per record
// and memory is bounded by the bucket count and maxProducers, never by the
// log: the analytics never scan the log. The caller supplies every time value
// (the record's arrival time), which keeps the package pure and lets tests
// drive it with an explicit clock.
package analytics
