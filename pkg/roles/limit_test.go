package roles

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logstream/logstream/pkg/framed"
	"github.com/logstream/logstream/pkg/internal/cliutil"
	"github.com/logstream/logstream/pkg/wire"
)

// holdConnection opens a connection to addr and waits until the broker has
// answered a request on it, so it is counted against the connection bounds.
func holdConnection(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn := framed.NewWith(nc, framed.Options{MaxBody: wire.DefaultMaxFrame, Queue: 4, WriteTimeout: 5 * time.Second})
	t.Cleanup(func() { conn.Close() })
	if err := conn.Send(wire.Encode(&wire.Metadata{}, 1)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Recv(); err != nil {
		t.Fatalf("held connection not served: %v", err)
	}
}

// A connection refused because a bound is reached used to be retried with
// back-off until the attempts ran out ("giving up" after seconds to
// minutes). Waiting does not free a slot that other clients hold, so the
// producer and the consumer end at once, exit 1, with the broker's line.
func TestConnectionLimitEndsClientsAtOnce(t *testing.T) {
	addr := startTestBroker(t, 1)
	holdConnection(t, addr)
	for _, tc := range []struct {
		name string
		app  func() *cli.App
		args []string
	}{
		{"consumer", func() *cli.App { return consumerApp() }, []string{"-analytics=false", "-exit-at-end"}},
		{"producer", func() *cli.App { return producerApp(strings.NewReader("one\n")) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			app := cliutil.Prepare(tc.app(), &stdout, &stderr)
			app.Name = tc.name
			args := append([]string{tc.name, "-leader", addr, "-topic", "t", "-reconnect-attempts", "10",
				"-reconnect-delay", "1", "-log-format", "json", "-log-level", "warn"}, tc.args...)
			if code := cliutil.Run(app, args); code != 1 {
				t.Errorf("exit %d, want 1; stderr: %s", code, stderr.String())
			}
			out := lines(stderr.String())
			last := out[len(out)-1]
			if !strings.Contains(last, "MAX_CONNECTIONS_PER_IP reached (1 connections") || strings.Contains(last, "giving up") {
				t.Errorf("last line %q, want the bound named, not a give-up", last)
			}
			if strings.Contains(stderr.String(), "attempt 1/") {
				t.Errorf("the refusal was retried:\n%s", stderr.String())
			}
		})
	}
}
