package testnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// Host is one network namespace.
type Host struct {
	Name      string       // namespace name, for `ip netns exec NAME`
	IP        netip.Addr   // the host's address
	Prefix    netip.Prefix // IP with the subnet's length, e.g. 10.77.3.10/24
	Broadcast netip.Addr   // the subnet's broadcast address
	Iface     string       // the interface holding IP ("eth0", or "lo")
}

// Command returns a command that runs inside the host's namespace. `ip
// netns exec` execs the program in place, so cmd.Process.Pid is the
// program's own PID and killing it by PID works.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Do runs fn on an OS thread switched into the host's namespace. Sockets
// opened in fn stay in that namespace after Do returns and can be used from
// any goroutine.
//
// fn runs on a goroutine of its own whose thread is locked and never
// unlocked: when the goroutine ends the Go runtime destroys the thread, so a
// thread in a foreign namespace can never be reused for unrelated work, even
// if switching back were to fail. Because of that goroutine, fn must not call
// t.FailNow (t.Fatal); return an error instead. A panic in fn is re-raised
// in the caller.
func (h *Host) Do(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread, on purpose: see above.
		finished := false
		defer func() {
			if finished {
				return
			}
			// fn panicked, or called runtime.Goexit (recover gives nil).
			if p := recover(); p != nil {
				done <- result{panic: p}
				return
			}
			done <- result{err: errors.New("testnet: Do: fn stopped its goroutine (t.FailNow or runtime.Goexit inside Do?)")}
		}()
		fd, err := unix.Open(netnsDir+"/"+h.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			finished = true
			done <- result{err: fmt.Errorf("testnet: open namespace %s: %w", h.Name, err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			finished = true
			done <- result{err: fmt.Errorf("testnet: enter namespace %s: %w", h.Name, err)}
			return
		}
		err = fn()
		finished = true
		done <- result{err: err}
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}
