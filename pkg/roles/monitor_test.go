package roles

import (
	"bytes"
	"strings"
	"testing"
)

// The broker refuses a monitor option it cannot use before it opens
// anything (these command lines never reach a socket).
func TestBrokerMonitorOptionErrors(t *testing.T) {
	t.Setenv("LOGSTREAM_HOME", t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--address", "127.0.0.1:8001", "--monitor-address", "9464"}, "--monitor-address (MONITOR_ADDRESS)"},
		{[]string{"--address", "127.0.0.1:8001", "--monitor-address", "localhost:9464"}, "want IP:PORT"},
		{[]string{"--address", "127.0.0.1:8001", "--monitor-pprof"}, "needs --monitor-address"},
	} {
		var out, errb bytes.Buffer
		code := brokerMain(append([]string{"logstream"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}
