// Package chaos holds the Jepsen-style test of the real logstream binary:
// five brokers in a test network, producers and consumers streaming through
// them, and a seeded schedule of faults (kill -9 and restart, SIGSTOP pauses,
// network cuts, two at once). The checker then verifies DESIGN.md §4 on what
// the clients saw and on what every broker stored.
//
//	go test ./pkg/chaos -run TestChaos -chaos.seed=7 -chaos.duration=5m
//
// The same seed replays the same fault schedule.
package chaos
