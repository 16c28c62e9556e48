package ctl

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// urfave/cli v2 parses each command's flags with Go's flag package, which
// stops at the first positional argument: `logs node1 --follow` would take
// "--follow" as a second argument and silently not follow (urfave/cli issues
// #1177, #1733, #2058). normalizeArgs reorders the command line so that, at
// every (sub)command level, flags (with their values) come before the
// positional arguments. Everything after "--" stays positional.

// commandSpec is what the normaliser needs to know about one command level.
type commandSpec struct {
	// Flags maps every flag name and alias to whether it takes a value
	// (as "-lines 100" does; bool flags take none).
	Flags map[string]bool
	// Subcommands holds the names and aliases of the subcommands.
	Subcommands map[string]bool
}

// commandLookup returns the spec of the command at path (nil path = root).
type commandLookup func(path []string) (commandSpec, bool)

// appLookup derives specs from the App's own flag definitions, so which
// flags take values is never listed twice.
func appLookup(app *cli.App) commandLookup {
	return func(path []string) (commandSpec, bool) {
		flags, cmds := app.Flags, app.Commands
		for _, name := range path {
			var next *cli.Command
			for _, c := range cmds {
				if c.HasName(name) {
					next = c
					break
				}
			}
			if next == nil {
				return commandSpec{}, false
			}
			flags, cmds = next.Flags, next.Subcommands
		}
		spec := commandSpec{Flags: map[string]bool{}, Subcommands: map[string]bool{}}
		for _, f := range flags {
			takes := true
			if tv, ok := f.(interface{ TakesValue() bool }); ok {
				takes = tv.TakesValue()
			}
			for _, n := range f.Names() {
				spec.Flags[n] = takes
			}
		}
		for _, c := range cmds {
			for _, n := range c.Names() {
				spec.Subcommands[n] = true
			}
		}
		return spec, true
	}
}

// normalizeArgs returns args (args[0] is the program name) with flags moved
// before positional arguments at each command level. Unknown flags are
// moved too (as flags without a value) so the parser still reports them.
func normalizeArgs(args []string, lookup commandLookup) []string {
	if len(args) == 0 {
		return args
	}
	out := make([]string, 0, len(args))
	out = append(out, args[0])
	return append(out, normalizeLevel(nil, args[1:], lookup)...)
}

func normalizeLevel(path, args []string, lookup commandLookup) []string {
	spec, _ := lookup(path)
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			res := append(flags, "--")
			res = append(res, pos...)
			return append(res, args[i+1:]...)
		}
		if isFlagArg(a) {
			flags = append(flags, a)
			name, inline := flagArgName(a)
			if !inline && spec.Flags[name] && i+1 < len(args) {
				// Like Go's flag package, the next word is the value
				// whatever it looks like.
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		if len(pos) == 0 && spec.Subcommands[a] {
			res := append(flags, a)
			sub := append(append([]string(nil), path...), a)
			return append(res, normalizeLevel(sub, args[i+1:], lookup)...)
		}
		if len(spec.Subcommands) > 0 {
			// Not one of this command's subcommands: leave the rest as
			// typed so the command reports the unknown word itself.
			return append(flags, args[i:]...)
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

// isFlagArg reports whether a looks like a flag ("-x", "--x", "-x=v");
// a lone "-" is a positional argument.
func isFlagArg(a string) bool {
	return len(a) > 1 && a[0] == '-' && a != "--"
}

// flagArgName returns the flag's name and whether its value is inline.
func flagArgName(a string) (string, bool) {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], true
	}
	return name, false
}
