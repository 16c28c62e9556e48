// Package buildinfo is the one home of LogStream's version string: the
// module version and VCS revision Go stamps into the binary
// (runtime/debug.ReadBuildInfo), so a binary can say what it was built from
// without a release step.
package buildinfo

import (
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Override, when set at link time (-ldflags "-X
// github.com/logstream/logstream/pkg/internal/buildinfo.Override=v1.2.3"), replaces
// the module version (a release build outside a VCS checkout).
var Override = ""

// Revision is the VCS revision to report when Go stamped none: `go build`
// stamps only in a plain checkout (not, for one, in a git worktree, whose
// .git is a file), so the Makefile passes `git rev-parse HEAD` here too
// (-X .../pkg/internal/buildinfo.Revision=REV, with a "+modified" suffix for a dirty
// tree). Go's own stamp wins when there is one.
var Revision = ""

// String is this binary's version: "VERSION (rev REVISION[+modified], GO)".
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return format(nil, Override)
	}
	if Revision != "" && setting(bi, "vcs.revision") == "" {
		bi = withRevision(bi, Revision)
	}
	return format(bi, Override)
}

// format renders bi. The module version is what `go build` stamps from the
// VCS (a tag, or a pseudo-version such as v0.0.0-20250101120000-abcdef123456);
// "(devel)" means it had no VCS information (built with -buildvcs=false or
// outside a checkout), and the revision part then says so.
func format(bi *debug.BuildInfo, override string) string {
	if bi == nil {
		return orUnknown(override) + " (no build information)"
	}
	version := bi.Main.Version
	if override != "" {
		version = override
	}
	if version == "" {
		version = "(devel)"
	}
	rev, modified := setting(bi, "vcs.revision"), setting(bi, "vcs.modified") == "true"
	switch {
	case rev == "":
		rev = "unknown revision: built without VCS stamping"
	case modified:
		rev = "rev " + short(rev) + "+modified"
	default:
		rev = "rev " + short(rev)
	}
	var extra []string
	extra = append(extra, rev)
	if bi.GoVersion != "" {
		extra = append(extra, bi.GoVersion)
	}
	return version + " (" + strings.Join(extra, ", ") + ")"
}

// withRevision returns a copy of bi carrying rev ("REV" or "REV+modified")
// as its VCS settings.
func withRevision(bi *debug.BuildInfo, rev string) *debug.BuildInfo {
	c := *bi
	rev, dirty := strings.CutSuffix(rev, "+modified")
	c.Settings = append(slices.Clone(bi.Settings),
		debug.BuildSetting{Key: "vcs.revision", Value: rev},
		debug.BuildSetting{Key: "vcs.modified", Value: strconv.FormatBool(dirty)})
	return &c
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// short is a revision as git abbreviates it, long enough to be unique in
// any repository this size.
func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func orUnknown(s string) string {
	if s == "" {
		return "(devel)"
	}
	return s
}
