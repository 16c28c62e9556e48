package client

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logstream/logstream/pkg/defaults"
)

// With -local-port, the port the client reconnects from is still held for a
// while by the connection it just closed (TIME_WAIT). The dial waits for it
// instead of failing: before, every reconnect failed with "bind: address
// already in use" until the attempts ran out (seen in TestBadInput).
func TestDialWaitsForTheLocalPort(t *testing.T) {
	broker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	go func() {
		for {
			c, err := broker.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	holder, err := net.Listen("tcp", "127.0.0.1:0") // holds the port we want
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(holder.Addr().(*net.TCPAddr).Port)
	l := newLink(Options{LocalPort: port, Logger: zerolog.Nop()})
	released := false
	l.pause = func(ctx context.Context, d time.Duration) bool {
		if !released {
			released = true
			holder.Close() // the old connection's port frees itself
		}
		return true
	}
	conn, err := l.dial(context.Background(), broker.Addr().String(), defaults.ClientDialTimeout)
	if err != nil {
		t.Fatalf("dial from a busy local port: %v", err)
	}
	conn.Close()
	if !released {
		t.Fatal("the port was never busy: the test proves nothing")
	}
}
