// Package multicall is the busybox-style front door of the one logstream
// binary: it picks a role from the name the binary was called by (a symlink
// such as producer or logstreamctl) or, for `logstream`, from the first
// argument, and runs it. `logstream` with no argument is a broker configured
// by environment variables, as the manual's "Direct Binary Usage" shows.
package multicall

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// Role is one thing the binary can be.
type Role struct {
	Name  string
	Usage string
	// Link is the name of the symlink that runs this role ("" for none).
	Link string
	// Run gets the arguments with args[0] set to the name the user typed
	// (e.g. "producer" or "logstream producer") and returns the exit status.
	Run func(args []string, stdout, stderr io.Writer) int
}

// Registry maps names to roles. A duplicate name is a programming error.
type Registry struct {
	roles map[string]Role
	def   string
}

// NewRegistry returns a registry whose bare invocation runs role def.
func NewRegistry(def string, roles ...Role) *Registry {
	r := &Registry{roles: map[string]Role{}, def: def}
	for _, role := range roles {
		if _, dup := r.roles[role.Name]; dup {
			panic("multicall: duplicate role " + role.Name)
		}
		r.roles[role.Name] = role
	}
	if _, ok := r.roles[def]; !ok {
		panic("multicall: default role " + def + " not registered")
	}
	return r
}

// Links returns the names that get a symlink, sorted.
func (r *Registry) Links() []string {
	var out []string
	for _, role := range r.roles {
		if role.Link != "" {
			out = append(out, role.Link)
		}
	}
	sort.Strings(out)
	return out
}

// Main dispatches args (args[0] is argv[0]) and returns the exit status.
func (r *Registry) Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"logstream"}
	}
	called := filepath.Base(args[0])
	for _, role := range r.roles {
		if role.Link != "" && role.Link == called {
			return role.Run(append([]string{called}, args[1:]...), stdout, stderr)
		}
	}
	if len(args) == 1 || strings.HasPrefix(args[1], "-") {
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help" || args[1] == "-help") {
			r.PrintRoles(stdout, called)
			fmt.Fprintln(stdout)
		}
		return r.roles[r.def].Run(append([]string{called}, args[1:]...), stdout, stderr)
	}
	name := args[1]
	if name == "help" {
		r.PrintRoles(stdout, called)
		return 0
	}
	role, ok := r.roles[name]
	if !ok {
		// A mistake gets one line, as on every role: what was wrong and
		// what would have been right.
		fmt.Fprintf(stderr, "%s: unknown role or command %q (roles: %s; or call it as %s; see %s help)\n",
			called, name, strings.Join(r.names(), ", "), strings.Join(r.Links(), ", "), called)
		return 2
	}
	return role.Run(append([]string{called + " " + name}, args[2:]...), stdout, stderr)
}

// names returns the roles' names, sorted.
func (r *Registry) names() []string {
	names := make([]string, 0, len(r.roles))
	for name := range r.roles {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// PrintRoles lists what the binary can be.
func (r *Registry) PrintRoles(w io.Writer, called string) {
	names := r.names()
	fmt.Fprintf(w, "usage: %s [ROLE] [OPTIONS]   (no ROLE: a broker configured by environment variables)\n", called)
	fmt.Fprintf(w, "       or call the binary through a symlink named after a role (%s)\n\nroles:\n",
		strings.Join(r.Links(), ", "))
	for _, name := range names {
		fmt.Fprintf(w, "  %-13s %s\n", name, r.roles[name].Usage)
	}
}
