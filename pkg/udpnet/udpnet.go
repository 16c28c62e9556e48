package udpnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// defaultWriteTimeout bounds one datagram send. A UDP send only blocks when
// the socket buffer is full; a second is far beyond normal and means the
// host is in trouble.
const defaultWriteTimeout = time.Second

// MaxDatagram is the largest UDP payload over IPv4; read buffers of this
// size never truncate.
const MaxDatagram = 65507

var any4 = netip.IPv4Unspecified()

// ListenBroadcast opens a socket that receives datagrams sent to port,
// including subnet broadcasts. ip is usually unspecified (the zero Addr or
// 0.0.0.0): Linux delivers a broadcast only to sockets bound to the wildcard
// or to the broadcast address itself, never to one bound to a unicast IP.
// SO_REUSEADDR and SO_REUSEPORT let several brokers on one host share the
// port; SO_BROADCAST lets the socket answer or send broadcasts.
//
// ctx bounds only the listen call; the caller owns and closes the conn.
func ListenBroadcast(ctx context.Context, ip netip.Addr, port uint16) (*net.UDPConn, error) {
	if !ip.IsValid() {
		ip = any4
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil, fmt.Errorf("udpnet: broadcast listen on %s: broadcast needs IPv4", ip)
	}
	lc := net.ListenConfig{Control: control(optReuseAddr, optReusePort, optBroadcast)}
	return listen(ctx, lc, netip.AddrPortFrom(ip, port))
}

// ListenMulticast opens a socket bound to group's address and port (binding
// the group, not the wildcard, keeps unicast and other groups out), with
// address and port reuse, joined to the group on the interface that has
// ifaceIP, sending via that interface with loopback on (brokers on one host
// must hear each other) and TTL 1.
//
// ifaceIP 127.0.0.1 keeps everything on lo. The unspecified address lets the
// kernel choose the interface from its routes, which fails with "no such
// device" where no route covers the group.
//
// ctx bounds only the listen call; the caller owns and closes the conn.
func ListenMulticast(ctx context.Context, group netip.AddrPort, ifaceIP netip.Addr) (*net.UDPConn, error) {
	g := group.Addr().Unmap()
	if !g.Is4() || !g.IsMulticast() {
		return nil, fmt.Errorf("udpnet: %s is not an IPv4 multicast group (224.0.0.0/4)", group.Addr())
	}
	if !ifaceIP.IsValid() {
		ifaceIP = any4
	}
	ifaceIP = ifaceIP.Unmap()
	if !ifaceIP.Is4() {
		return nil, fmt.Errorf("udpnet: multicast interface address %s is not IPv4", ifaceIP)
	}
	opts := []sockopt{optReuseAddr, optReusePort, optJoin(g, ifaceIP)}
	opts = append(opts, multicastSendOpts(ifaceIP)...)
	opts = append(opts, platformMulticastOpts...)
	lc := net.ListenConfig{Control: control(opts...)}
	return listen(ctx, lc, netip.AddrPortFrom(g, group.Port()))
}

// NewSender opens an unbound (wildcard address, ephemeral port) socket for
// sending broadcasts and multicasts: SO_BROADCAST, IP_MULTICAST_IF ifaceIP
// (unless ifaceIP is unspecified or zero), loopback on, TTL 1. Replies to
// what it sends come back to it.
func NewSender(ifaceIP netip.Addr) (*net.UDPConn, error) {
	return NewSenderOn(netip.AddrPortFrom(any4, 0), ifaceIP)
}

// NewSenderOn is NewSender bound to local, for callers (and tests) that must
// keep to one address such as 127.0.0.1.
func NewSenderOn(local netip.AddrPort, ifaceIP netip.Addr) (*net.UDPConn, error) {
	la := local.Addr()
	if !la.IsValid() {
		la = any4
	}
	la = la.Unmap()
	if !la.Is4() {
		return nil, fmt.Errorf("udpnet: sender address %s is not IPv4", la)
	}
	if ifaceIP.IsValid() && !ifaceIP.Unmap().Is4() {
		return nil, fmt.Errorf("udpnet: multicast interface address %s is not IPv4", ifaceIP)
	}
	opts := append([]sockopt{optBroadcast}, multicastSendOpts(ifaceIP.Unmap())...)
	lc := net.ListenConfig{Control: control(opts...)}
	return listen(context.Background(), lc, netip.AddrPortFrom(la, local.Port()))
}

func multicastSendOpts(ifaceIP netip.Addr) []sockopt {
	opts := []sockopt{optMulticastLoop, optMulticastTTL}
	if ifaceIP.IsValid() && !ifaceIP.IsUnspecified() {
		opts = append(opts, optMulticastIf(ifaceIP))
	}
	return opts
}

func listen(ctx context.Context, lc net.ListenConfig, addr netip.AddrPort) (*net.UDPConn, error) {
	pc, err := lc.ListenPacket(ctx, "udp4", addr.String())
	if err != nil {
		return nil, fmt.Errorf("udpnet: %w", err)
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok { // cannot happen for "udp4"; guard rather than panic
		pc.Close()
		return nil, fmt.Errorf("udpnet: unexpected conn type %T", pc)
	}
	return uc, nil
}

// Send writes one datagram to to, giving up after timeout (defaultWriteTimeout
// if timeout <= 0). The deadline is per conn, so concurrent senders on one
// conn each extend it; that is harmless since each sets its own bound.
func Send(conn *net.UDPConn, b []byte, to netip.AddrPort, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = defaultWriteTimeout
	}
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	n, err := conn.WriteToUDPAddrPort(b, to)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("udpnet: short write to %s: %d of %d bytes", to, n, len(b))
	}
	return nil
}

// CloseOnDone closes c when ctx ends, which wakes any goroutine blocked
// reading it. The returned stop cancels that if the owner closes c itself
// first (closing twice is harmless either way).
func CloseOnDone(ctx context.Context, c io.Closer) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

// IsClosed reports whether err means the conn was closed, the normal way a
// reader learns to stop.
func IsClosed(err error) bool {
	return errors.Is(err, net.ErrClosed)
}
