// Package loopback gives tests a connected pair of TCP sockets over
// 127.0.0.1 — real sockets, with kernel buffers, where net.Pipe has none —
// closed when the test ends. Loopback only: nothing leaves the machine.
package loopback

import (
	"net"
	"testing"
)

// TCPPair returns the dialling end and the accepted end of one TCP
// connection over loopback.
func TCPPair(t testing.TB) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		ch <- nc
	}()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if accepted = <-ch; accepted == nil {
		dialed.Close()
		t.Fatal("loopback: accept failed")
	}
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	return dialed, accepted
}
