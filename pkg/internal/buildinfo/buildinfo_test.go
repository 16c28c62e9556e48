package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	pseudo := "v0.0.0-20250101120000-0123456789ab"
	cases := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{"vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: pseudo}, Settings: vcs("vcs.revision", rev, "vcs.modified", "false")},
			"", pseudo + " (rev 0123456789ab, go1.26.8)"},
		{"dirty", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: pseudo + "+dirty"}, Settings: vcs("vcs.revision", rev, "vcs.modified", "true")},
			"", pseudo + "+dirty (rev 0123456789ab+modified, go1.26.8)"},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"", "(devel) (unknown revision: built without VCS stamping, go1.26.8)"},
		{"override", &debug.BuildInfo{Main: debug.Module{Version: pseudo}, Settings: vcs("vcs.revision", rev)},
			"v1.2.3", "v1.2.3 (rev 0123456789ab)"},
		{"nil", nil, "", "(devel) (no build information)"},
	}
	for _, c := range cases {
		if got := format(c.bi, c.override); got != c.want {
			t.Errorf("%s: Format = %q, want %q", c.name, got, c.want)
		}
	}
}

// A test binary has build information: String must use it, never "dev".
func TestStringUsesBuildInfo(t *testing.T) {
	s := String()
	if s == "" || s == "dev" || !strings.Contains(s, "go1.") {
		t.Fatalf("String() = %q, want the module version and the Go version", s)
	}
}

// A revision given at link time fills in for a missing VCS stamp only.
func TestWithRevision(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	if got, want := format(withRevision(bi, "0123456789abcdef+modified"), ""), "(devel) (rev 0123456789ab+modified)"; got != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
	if len(bi.Settings) != 0 {
		t.Fatal("withRevision changed its argument")
	}
}
