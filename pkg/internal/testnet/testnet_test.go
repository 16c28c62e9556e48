package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// arrival bounds every wait for something that should happen.
const arrival = 10 * time.Second

// silence is the one negative wait: how long listeners outside the network
// must stay quiet after the datagrams have already arrived inside it.
const silence = 500 * time.Millisecond

func TestBroadcastAndMulticastStayInside(t *testing.T) {
	n := New(t, Options{Hosts: 2})
	// A second network with the very same subnet: if frames leaked out of
	// n, hosts here would be the first to hear them.
	other := New(t, Options{Hosts: 2, Subnet: n.Subnet().String()})
	assertSealed(t, n)
	assertSealed(t, other)

	port := randomPort()
	recv := listenIn(t, n.Host(1), port)
	var leaks []<-chan []byte
	for _, h := range other.Hosts() {
		leaks = append(leaks, listenIn(t, h, port))
	}
	// The machine's own namespace is deliberately not listened on: binding
	// 0.0.0.0 there, and joining a group on its real interface (which
	// sends IGMP onto the real network), is forbidden on this machine. The
	// topology check above proves nothing links to it instead.

	nonce := fmt.Sprintf("%x", time.Now().UnixNano())
	bcast := []byte("bcast-" + nonce)
	mcast := []byte("mcast-" + nonce)
	src := n.Host(0)
	err := src.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: src.IP.AsSlice()})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := setsockopt(c, func(fd int) error {
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		if _, err := c.WriteToUDP(bcast, &net.UDPAddr{IP: src.Broadcast.AsSlice(), Port: port}); err != nil {
			return fmt.Errorf("broadcast: %w", err)
		}
		if _, err := c.WriteToUDP(mcast, &net.UDPAddr{IP: testGroup.AsSlice(), Port: port}); err != nil {
			return fmt.Errorf("multicast: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]bool{}
	waitFor(t, recv, arrival, "broadcast and multicast in host 1", func(b []byte) bool {
		got[string(b)] = true
		return got[string(bcast)] && got[string(mcast)]
	})

	quiet := time.NewTimer(silence)
	defer quiet.Stop()
	for {
		select {
		case b := <-leaks[0]:
			t.Fatalf("other network, host 0 received %q", b)
		case b := <-leaks[1]:
			t.Fatalf("other network, host 1 received %q", b)
		case <-quiet.C:
			return
		}
	}
}

// listenIn opens a group-joined 0.0.0.0:port listener in h, closed at
// cleanup.
func listenIn(t *testing.T, h *Host, port int) <-chan []byte {
	t.Helper()
	var c *net.UDPConn
	if err := h.Do(func() (err error) {
		c, err = listenUDP(port, h.Iface)
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return collect(c)
}

func TestCutStopsAndHealRestoresUnicast(t *testing.T) {
	n := New(t, Options{Hosts: 3})
	a, b := n.Host(0), n.Host(1)
	port := randomPort()

	// Host 1 echoes every datagram.
	var echo *net.UDPConn
	if err := b.Do(func() (err error) {
		echo, err = net.ListenUDP("udp4", &net.UDPAddr{IP: b.IP.AsSlice(), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			k, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteToUDP(buf[:k], from)
		}
	}()

	var cli *net.UDPConn
	if err := a.Do(func() (err error) {
		cli, err = net.ListenUDP("udp4", &net.UDPAddr{IP: a.IP.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	to := &net.UDPAddr{IP: b.IP.AsSlice(), Port: port}
	seq := 0
	// probe reports whether one request gets its own answer back; the read
	// deadline is the retry interval of the bounded loops below.
	probe := func() bool {
		seq++
		msg := fmt.Appendf(nil, "probe-%d", seq)
		if _, err := cli.WriteToUDP(msg, to); err != nil {
			return false // e.g. EHOSTUNREACH once ARP gave up
		}
		buf := make([]byte, 512)
		_ = cli.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			k, _, err := cli.ReadFromUDP(buf)
			if err != nil {
				return false
			}
			if bytes.Equal(buf[:k], msg) {
				return true
			}
		}
	}
	eventually := func(what string, want bool) {
		t.Helper()
		for range 50 {
			if probe() == want {
				return
			}
		}
		t.Fatalf("%s: not reached after 50 probes", what)
	}

	eventually("reachable before Cut", true)
	if err := n.Cut(0); err != nil {
		t.Fatal(err)
	}
	eventually("unreachable after Cut", false)
	// A retry could succeed only from a reply already in flight; after
	// the first failure the cut must hold.
	for range 3 {
		if probe() {
			t.Fatal("host 1 answered through a cut link")
		}
	}
	if err := n.Heal(0); err != nil {
		t.Fatal(err)
	}
	eventually("reachable after Heal", true)

	if err := n.Cut(3); err == nil {
		t.Error("Cut(3) on a 3-host network: want error")
	}
	if err := n.Heal(-1); err == nil {
		t.Error("Heal(-1): want error")
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	n := New(t, Options{Hosts: 2})
	names := n.Namespaces()
	if len(names) != 3 {
		t.Fatalf("namespaces %v, want switch + 2 hosts", names)
	}
	listed := listNamespaces(t)
	for _, ns := range names {
		if !listed[ns] {
			t.Fatalf("%s missing from `ip netns list` while open", ns)
		}
	}

	// A process the test "forgot" to stop: Close must kill it by PID.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.Host(0).Command(ctx, "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("sleep ended with %v, want killed", err)
		}
	case <-time.After(arrival):
		t.Fatal("process inside the namespace survived Close")
	}
	listed = listNamespaces(t)
	for _, ns := range names {
		if listed[ns] {
			t.Errorf("%s still listed after Close", ns)
		}
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewRemovesLeftoversOfDeadRuns(t *testing.T) {
	if missingRequirement() != "" {
		t.Skip(skipPrefix + missingRequirement())
	}
	stale := fmt.Sprintf("%s%d-dead-h0", namePrefix, deadPID(t))
	if _, err := ip("netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNamespace(stale) })
	New(t, Options{Hosts: 1})
	if listNamespaces(t)[stale] {
		t.Fatalf("leftover %s survived New", stale)
	}
}

func TestLoopbackBroadcastAndMulticast(t *testing.T) {
	h := Loopback(t)
	port := randomPort()
	recv := listenIn(t, h, port)
	nonce := fmt.Sprintf("%x", time.Now().UnixNano())
	bcast, mcast := []byte("bcast-"+nonce), []byte("mcast-"+nonce)
	err := h.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: h.IP.AsSlice()})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := setsockopt(c, func(fd int) error {
			return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		if _, err := c.WriteToUDP(bcast, &net.UDPAddr{IP: h.Broadcast.AsSlice(), Port: port}); err != nil {
			return fmt.Errorf("broadcast: %w", err)
		}
		if _, err := c.WriteToUDP(mcast, &net.UDPAddr{IP: testGroup.AsSlice(), Port: port}); err != nil {
			return fmt.Errorf("multicast: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	waitFor(t, recv, arrival, "broadcast and multicast on lo", func(b []byte) bool {
		got[string(b)] = true
		return got[string(bcast)] && got[string(mcast)]
	})
}

func TestCommandRunsInsideHost(t *testing.T) {
	n := New(t, Options{Hosts: 1})
	h := n.Host(0)
	out, err := h.Command(context.Background(), "ip", "-4", "-o", "addr", "show", "dev", h.Iface).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), h.Prefix.String()) || !strings.Contains(string(out), "brd "+h.Broadcast.String()) {
		t.Fatalf("inside %s: %s; want %s brd %s", h.Name, out, h.Prefix, h.Broadcast)
	}
}

func TestDoRepanicsInCaller(t *testing.T) {
	h := Loopback(t)
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want boom", p)
		}
	}()
	_ = h.Do(func() error { panic("boom") })
}

func TestDoReportsGoexit(t *testing.T) {
	h := Loopback(t)
	if err := h.Do(func() error { runtime.Goexit(); return nil }); err == nil {
		t.Fatal("Do returned nil after fn called runtime.Goexit")
	}
}

func TestDoEntersNamespace(t *testing.T) {
	h := Loopback(t)
	var names []string
	if err := h.Do(func() error {
		ifs, err := net.Interfaces()
		for _, ifi := range ifs {
			names = append(names, ifi.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Fatalf("interfaces inside %s: %v, want only lo", h.Name, names)
	}
}

func TestSkipsWhenNamespacesUnavailable(t *testing.T) {
	saved := missingRequirement
	missingRequirement = func() string { return "not root (euid 65534)" }
	defer func() { missingRequirement = saved }()

	for name, open := range map[string]func(testing.TB){
		"New":      func(tb testing.TB) { New(tb, Options{Hosts: 2}) },
		"Loopback": func(tb testing.TB) { Loopback(tb) },
	} {
		var inner *testing.T
		t.Run(name, func(t *testing.T) {
			inner = t
			open(t)
			t.Error("not skipped")
		})
		if !inner.Skipped() {
			t.Errorf("%s did not skip", name)
		}
	}
}
