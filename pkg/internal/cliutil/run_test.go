package cliutil

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// A value the parser cannot read, typed as a flag or set in the
// environment, is one line in the form of every other refusal, naming what
// the flag wants; never strconv's internals or a bare "parse error".
func TestUnreadableValuesAreReadable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"-rate", "abc"}, `x: invalid value "abc" for -rate: want a whole number`},
		{nil, []string{"-port", "x"}, `x: invalid value "x" for -port: want a whole number >= 0`},
		{nil, []string{"-on=maybe"}, `x: invalid value "maybe" for -on: want true or false`},
		{nil, []string{"-every", "soon"}, `x: invalid value "soon" for -every: want a duration such as 1s or 500ms`},
		{map[string]string{"HB": "abc"}, nil, `x: invalid value "abc" for HB (--hb): want a whole number`},
		{map[string]string{"EVERY": "x"}, nil, `x: invalid value "x" for EVERY (--every): want a duration such as 1s or 500ms`},
	}
	for _, c := range cases {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		var out, errw bytes.Buffer
		app := Prepare(&cli.App{
			Name: "x",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "rate"},
				&cli.UintFlag{Name: "port"},
				&cli.BoolFlag{Name: "on"},
				&cli.DurationFlag{Name: "every", EnvVars: []string{"EVERY"}},
				&cli.IntFlag{Name: "hb", EnvVars: []string{"HB"}},
			},
			Action: func(*cli.Context) error { return nil },
		}, &out, &errw)
		code := Run(app, append([]string{"x"}, c.args...))
		if code != 2 || strings.TrimSpace(errw.String()) != c.want {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", c.env, c.args, code, errw.String(), c.want)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
}
