package udpnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logstream/logstream/pkg/udpnet/udpnettest"
)

var (
	loopback  = netip.MustParseAddr("127.0.0.1")
	loopbackB = netip.MustParseAddr("127.255.255.255")
)

// hangGuard bounds a read so a lost datagram fails the test instead of
// hanging it; it is not a timing assertion.
const hangGuard = 10 * time.Second

func getInt(t *testing.T, c *net.UDPConn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

func recv(t *testing.T, c *net.UDPConn) (string, netip.AddrPort) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hangGuard))
	buf := make([]byte, MaxDatagram)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read on %s: %v", c.LocalAddr(), err)
	}
	return string(buf[:n]), from
}

func port(c *net.UDPConn) uint16 { return c.LocalAddr().(*net.UDPAddr).AddrPort().Port() }

// The tests in this file up to the namespace ones bind 127.0.0.1 only and
// send unicast only, so they are safe in the machine's own namespace.

func TestListenBroadcastOptionsAndSharing(t *testing.T) {
	ctx := context.Background()
	a, err := ListenBroadcast(ctx, loopback, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, o := range []struct {
		name       string
		level, opt int
	}{
		{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR},
		{"SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT},
		{"SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST},
	} {
		if v := getInt(t, a, o.level, o.opt); v == 0 {
			t.Errorf("%s not set", o.name)
		}
	}
	// A second broker on the same host binds the same port.
	b, err := ListenBroadcast(ctx, loopback, port(a))
	if err != nil {
		t.Fatalf("second listener on the shared port: %v", err)
	}
	b.Close()
}

func TestSenderOptionsAndSend(t *testing.T) {
	rx, err := ListenBroadcast(context.Background(), loopback, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := NewSenderOn(netip.AddrPortFrom(loopback, 0), loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if getInt(t, tx, unix.SOL_SOCKET, unix.SO_BROADCAST) == 0 {
		t.Error("SO_BROADCAST not set")
	}
	if getInt(t, tx, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP) != 1 {
		t.Error("IP_MULTICAST_LOOP not on")
	}
	if v := getInt(t, tx, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL); v != 1 {
		t.Errorf("IP_MULTICAST_TTL = %d, want 1", v)
	}
	to := netip.AddrPortFrom(loopback, port(rx))
	if err := Send(tx, []byte("hello"), to, 0); err != nil {
		t.Fatal(err)
	}
	msg, from := recv(t, rx)
	if msg != "hello" || from.Addr() != loopback || from.Port() != port(tx) {
		t.Errorf("got %q from %v", msg, from)
	}
}

func TestArgumentErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := ListenBroadcast(ctx, netip.MustParseAddr("::1"), 0); err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Errorf("IPv6 broadcast listen: %v", err)
	}
	if _, err := ListenMulticast(ctx, netip.MustParseAddrPort("10.0.0.1:9999"), loopback); err == nil || !strings.Contains(err.Error(), "multicast group") {
		t.Errorf("unicast group: %v", err)
	}
	if _, err := ListenMulticast(ctx, netip.MustParseAddrPort("239.0.0.1:9999"), netip.MustParseAddr("::1")); err == nil {
		t.Error("IPv6 interface accepted")
	}
	if _, err := NewSenderOn(netip.MustParseAddrPort("[::1]:0"), loopback); err == nil {
		t.Error("IPv6 sender accepted")
	}
	if _, err := NewSender(netip.MustParseAddr("::1")); err == nil {
		t.Error("IPv6 multicast interface accepted")
	}
}

func TestCloseOnDoneUnblocksRead(t *testing.T) {
	c, err := ListenBroadcast(context.Background(), loopback, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	CloseOnDone(ctx, c)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFromUDPAddrPort(make([]byte, 16))
		done <- err
	}()
	cancel()
	if err := <-done; !IsClosed(err) {
		t.Fatalf("read ended with %v, want net.ErrClosed", err)
	}
}

func TestSendWriteDeadlineOnClosed(t *testing.T) {
	tx, err := NewSenderOn(netip.AddrPortFrom(loopback, 0), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	tx.Close()
	err = Send(tx, []byte("x"), netip.AddrPortFrom(loopback, 9), time.Millisecond)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send on closed conn: %v", err)
	}
}

// TestBroadcastInNetns sends a real broadcast to 127.255.255.255 inside a
// private namespace; two listeners sharing the port both hear it.
func TestBroadcastInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	ctx := context.Background()
	a, err := ListenBroadcast(ctx, netip.Addr{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenBroadcast(ctx, netip.Addr{}, port(a))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tx, err := NewSender(loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := Send(tx, []byte("JOIN?"), netip.AddrPortFrom(loopbackB, port(a)), 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		if msg, _ := recv(t, c); msg != "JOIN?" {
			t.Errorf("got %q", msg)
		}
	}
}

// TestMulticastInNetns: two members of a group on lo each receive a datagram
// multicast by a third socket (IP_MULTICAST_LOOP), and a member's own
// multicast loops back to it.
func TestMulticastInNetns(t *testing.T) {
	if !udpnettest.InLoopbackNetns(t) {
		return
	}
	ctx := context.Background()
	group := netip.MustParseAddrPort("239.0.0.1:9999")
	a, err := ListenMulticast(ctx, group, loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenMulticast(ctx, group, loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if getInt(t, a, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL) != 0 {
		t.Error("IP_MULTICAST_ALL still on")
	}
	tx, err := NewSender(loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := Send(tx, []byte("HEARTBEAT"), group, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		if msg, _ := recv(t, c); msg != "HEARTBEAT" {
			t.Errorf("got %q", msg)
		}
	}
	if err := Send(a, []byte("from a"), group, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		if msg, _ := recv(t, c); msg != "from a" {
			t.Errorf("got %q", msg)
		}
	}
	// Another group's traffic on the same port stays out.
	other := netip.MustParseAddrPort("239.0.0.2:9999")
	c, err := ListenMulticast(ctx, other, loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Send(tx, []byte("other"), other, 0); err != nil {
		t.Fatal(err)
	}
	if err := Send(tx, []byte("mine"), group, 0); err != nil {
		t.Fatal(err)
	}
	if msg, _ := recv(t, a); msg != "mine" {
		t.Errorf("member of %s received %q", group, msg)
	}
}
