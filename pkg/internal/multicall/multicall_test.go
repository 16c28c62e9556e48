package multicall

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testRegistry(got *[]string) *Registry {
	role := func(name, link string) Role {
		return Role{Name: name, Link: link, Usage: name + " role",
			Run: func(args []string, stdout, stderr io.Writer) int {
				*got = append([]string{name}, args...)
				return 7
			}}
	}
	return NewRegistry("broker", role("broker", ""), role("producer", "producer"), role("ctl", "logstreamctl"))
}

func TestDispatch(t *testing.T) {
	cases := []struct {
		args []string
		want []string
		code int
	}{
		{[]string{"./logstream"}, []string{"broker", "logstream"}, 7},
		{[]string{"/usr/bin/logstream", "--log-level", "debug"}, []string{"broker", "logstream", "--log-level", "debug"}, 7},
		{[]string{"./producer", "-topic", "logs"}, []string{"producer", "producer", "-topic", "logs"}, 7},
		{[]string{"bin/logstreamctl", "logs", "node1", "--follow"}, []string{"ctl", "logstreamctl", "logs", "node1", "--follow"}, 7},
		{[]string{"./logstream", "producer", "-rate", "10"}, []string{"producer", "logstream producer", "-rate", "10"}, 7},
		{[]string{"./logstream", "ctl", "list"}, []string{"ctl", "logstream ctl", "list"}, 7},
		{[]string{"./renamed-binary", "broker"}, []string{"broker", "renamed-binary broker"}, 7},
	}
	for _, c := range cases {
		var got []string
		var out, errw bytes.Buffer
		code := testRegistry(&got).Main(c.args, &out, &errw)
		if code != c.code || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %q (exit %d), want %q (exit %d)", c.args, got, code, c.want, c.code)
		}
	}
}

func TestUnknownRoleListsRoles(t *testing.T) {
	var got []string
	var out, errw bytes.Buffer
	code := testRegistry(&got).Main([]string{"logstream", "frobnicate"}, &out, &errw)
	if code != 2 || got != nil {
		t.Fatalf("exit %d, ran %q", code, got)
	}
	for _, want := range []string{`unknown role or command "frobnicate"`, "broker", "producer", "ctl", "logstreamctl"} {
		if !strings.Contains(errw.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errw.String())
		}
	}
	if n := strings.Count(strings.TrimSpace(errw.String()), "\n"); n != 0 {
		t.Errorf("a mistake gets one line, got %d:\n%s", n+1, errw.String())
	}
}

func TestDuplicateRolePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a duplicate role")
		}
	}()
	r := Role{Name: "x", Run: func([]string, io.Writer, io.Writer) int { return 0 }}
	NewRegistry("x", r, r)
}

func TestInstall(t *testing.T) {
	var got []string
	reg := testRegistry(&got)
	dir := t.TempDir()
	exe := filepath.Join(dir, "logstream")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "links")
	for _, d := range []string{dir, other} {
		var out bytes.Buffer
		if err := reg.Install(exe, d, &out); err != nil {
			t.Fatal(err)
		}
		// Twice: a second install replaces its own links.
		if err := reg.Install(exe, d, &out); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"logstreamctl", "producer"} {
			resolved, err := filepath.EvalSymlinks(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := filepath.EvalSymlinks(exe); resolved != want {
				t.Errorf("%s resolves to %s, want %s", name, resolved, want)
			}
		}
	}
	// A regular file in the way is reported and kept.
	blocker := filepath.Join(other, "producer")
	os.Remove(blocker)
	os.WriteFile(blocker, []byte("mine"), 0o644)
	if err := reg.Install(exe, other, io.Discard); err == nil {
		t.Fatal("install over a regular file reported no error")
	}
	if b, _ := os.ReadFile(blocker); string(b) != "mine" {
		t.Fatal("install overwrote a regular file")
	}
}
