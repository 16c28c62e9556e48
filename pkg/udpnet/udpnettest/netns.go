// Package udpnettest runs a test inside a private, throwaway network
// namespace that holds only a loopback interface, so tests may broadcast and
// multicast for real without a single packet reaching the machine's network.
//
// The test binary re-executes itself, running only the calling test, with
// CLONE_NEWNET. The namespace has no name and dies with the child process, so
// nothing needs deleting afterwards, even if the child crashes.
package udpnettest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const envChild = "LOGSTREAM_UDPNETTEST_CHILD"

// ChildTimeout bounds one re-executed test.
const ChildTimeout = 2 * time.Minute

// InLoopbackNetns returns true when the caller is already inside the private
// namespace, in which case it goes on with the test body. Otherwise it
// re-executes the current test there, reports the child's output and result,
// and returns false; the caller then returns at once:
//
//	if !udpnettest.InLoopbackNetns(t) {
//		return
//	}
//
// Inside, lo is up with 127.0.0.1/8 (broadcast 127.255.255.255) and a route
// sends 224.0.0.0/4 to lo. It skips unless run as root with `ip` available.
func InLoopbackNetns(t testing.TB) bool {
	t.Helper()
	if os.Getenv(envChild) == t.Name() {
		setupChild(t)
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (CLONE_NEWNET); CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to bring up lo in the test namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), ChildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run", RunPattern(t.Name()), "-test.count=1", "-test.v",
		"-test.timeout="+(ChildTimeout-5*time.Second).String())
	cmd.Env = append(os.Environ(), envChild+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("test in network namespace failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) &&
		!strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Fatalf("test in network namespace did not run:\n%s", out)
	}
	t.Logf("ran in a private network namespace:\n%s", out)
	return false
}

// RunPattern returns a -test.run pattern that matches exactly the test
// named name ("TestX/sub_case"), one anchored element per level.
func RunPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

var setup struct {
	once sync.Once
	err  string
}

// setupChild refuses to touch anything unless the process really is in an
// isolated namespace: if the environment variable leaked into a normal run,
// the test must fail rather than broadcast on the real network.
func setupChild(t testing.TB) {
	t.Helper()
	setup.once.Do(func() {
		ifs, err := net.Interfaces()
		if err != nil {
			setup.err = "listing interfaces: " + err.Error()
			return
		}
		for _, it := range ifs {
			if it.Flags&net.FlagLoopback == 0 {
				setup.err = "refusing to run: interface " + it.Name + " is visible, so this is not a private loopback-only namespace"
				return
			}
		}
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"route", "add", "224.0.0.0/4", "dev", "lo"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				setup.err = "ip " + strings.Join(args, " ") + ": " + err.Error() + ": " + string(out)
				return
			}
		}
	})
	if setup.err != "" {
		t.Fatal(setup.err)
	}
}
