package testnet

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// namePrefix starts every namespace this package makes. The owner's PID
// follows it so leftovers of a dead process can be told from live networks
// of concurrent test binaries.
const namePrefix = "lst-"

// nameSeq numbers the networks of this process.
var nameSeq atomic.Uint64

// runTag is random per process: if a crashed run's PID is reused by a later
// run, the later run's names still differ from the leftovers.
var runTag = func() string {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "0000"
	}
	return hex.EncodeToString(b[:])
}()

// newBaseName returns a fresh, process-unique stem such as "lst-4242-9f1c3".
// Namespace names are this stem plus a short role suffix ("-sw", "-h0").
func newBaseName() string {
	return fmt.Sprintf("%s%d-%s%d", namePrefix, os.Getpid(), runTag, nameSeq.Add(1))
}

// ownerPID returns the PID encoded in a namespace name made by this package.
// It reports false for every name this package did not make, so foreign
// namespaces are never touched.
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok || digits == "" || len(digits) > 10 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// parsePIDs reads the output of `ip netns pids`: one decimal PID a line.
// Lines that are not PIDs are skipped rather than trusted.
func parsePIDs(out string) []int {
	var pids []int
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}
