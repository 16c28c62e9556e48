package topiclog

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const crashChildEnv = "TOPICLOG_CRASH_CHILD_DIR"

// TestCrashChild is the child half of TestCrashRecovery: it appends until
// killed, printing "appended <first> <n>" after each Append returns.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashRecovery")
	}
	s, err := OpenStore(dir, Options{Logger: zerolog.Nop(), SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Topic("crash")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100000; i++ {
		n := 1 + i*37%200
		first, err := l.Append(genBatch(l.NextOffset(), n))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "appended %d %d\n", first, n)
	}
}

// TestCrashRecovery re-executes the test binary as a child that appends in
// a loop, kills it with SIGKILL after a seeded-random number of reported
// appends, reopens the log and checks that every reported record is there,
// intact, in a contiguous prefix — three times over the same directory.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(20260611, 7))
	reported := uint64(0)
	for round := 0; round < 3; round++ {
		killAfter := 1 + rng.IntN(400)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A safety bound only: a healthy child is killed long before.
		guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			var first, n uint64
			if _, err := fmt.Sscanf(sc.Text(), "appended %d %d", &first, &n); err != nil {
				continue // test framework output
			}
			if lines == 0 && first != reported {
				t.Fatalf("round %d: child started at offset %d, log ended at %d", round, first, reported)
			}
			reported = max(reported, first+n)
			lines++
			if lines == killAfter {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL to this PID
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		guard.Stop()
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Logf("round %d: child ended with %v after %d lines", round, err, lines)
		}

		s := openStore(t, dir, Options{Logger: zerolog.New(zerolog.NewTestWriter(t)), SegmentBytes: 64 << 10})
		l := topic(t, s, "crash")
		if l.NextOffset() < reported {
			t.Fatalf("round %d: NextOffset %d but child reported %d appended", round, l.NextOffset(), reported)
		}
		readAll(t, l, 0, 0, 0)
		reported = l.NextOffset()
		mustClose(t, s)
		t.Logf("round %d: killed after %d appends, log holds %d records", round, lines, reported)
	}
}
