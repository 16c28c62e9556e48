package roles

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/logstream/logstream/pkg/internal/buildinfo"
	"github.com/logstream/logstream/pkg/internal/ctl"
)

// Every role answers --version (and the manual's single-dash -version) with
// the build's module version and revision, as `logstream version` does.
func TestEveryRolePrintsTheBuildVersion(t *testing.T) {
	want := buildinfo.String()
	reg := Registry()
	roles := map[string]func([]string, io.Writer, io.Writer) int{
		"logstream": brokerMain, "producer": producerMain, "consumer": consumerMain,
		"bench": benchMain, "logstreamctl": ctl.Run,
	}
	for name, run := range roles {
		for _, flag := range []string{"--version", "-version"} {
			var out, errb bytes.Buffer
			if code := run([]string{name, flag}, &out, &errb); code != 0 || !strings.Contains(out.String(), want) {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", name, flag, code, out.String(), errb.String(), want)
			}
		}
	}
	for _, args := range [][]string{{"logstream", "version"}, {"logstreamctl", "version"}} {
		var out, errb bytes.Buffer
		if code := reg.Main(args, &out, &errb); code != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, out.String(), errb.String(), want)
		}
	}
}
