package ctl

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// nameTaking are the commands whose positional argument is a process name;
// their completion offers the names of managed processes.
var nameTaking = map[string]bool{"stop": true, "logs": true, "election": true}

func completionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		UsageText: "source <(logstreamctl completion bash)",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf("completion: give the shell: bash or zsh")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				return writeBashCompletion(e.stdout, c.App)
			case "zsh":
				// zsh runs the bash function through bashcompinit.
				fmt.Fprintln(e.stdout, "#compdef logstreamctl")
				fmt.Fprintln(e.stdout, "autoload -U +X bashcompinit && bashcompinit")
				return writeBashCompletion(e.stdout, c.App)
			default:
				return usageErrorf("completion: unsupported shell %q (want bash or zsh)", sh)
			}
		},
	}
}

// flagWords lists every spelling of the flags, as a user would type them.
func flagWords(flags []cli.Flag) string {
	var w []string
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 || n == "bg" {
				w = append(w, "-"+n)
			} else {
				w = append(w, "--"+n)
			}
		}
	}
	w = append(w, "--help")
	sort.Strings(w)
	return strings.Join(w, " ")
}

// writeBashCompletion generates the script from the App's own commands and
// flags, so it cannot drift from what the parser accepts.
func writeBashCompletion(w io.Writer, app *cli.App) error {
	var top []string
	var cases strings.Builder
	for _, c := range app.Commands {
		if c.Hidden || c.Name == "help" {
			continue
		}
		top = append(top, c.Name)
		var subs []string
		for _, s := range c.Subcommands {
			// cli adds a "help" subcommand to commands it has run.
			if s.Hidden || s.Name == "help" {
				continue
			}
			subs = append(subs, s.Name)
			fmt.Fprintf(&cases, "        %s/%s) words=%q ;;\n", c.Name, s.Name, flagWords(s.Flags))
		}
		if len(subs) > 0 {
			fmt.Fprintf(&cases, "        %s/) words=%q ;;\n", c.Name, strings.Join(subs, " "))
			continue
		}
		words := flagWords(c.Flags)
		switch {
		case nameTaking[c.Name]:
			fmt.Fprintf(&cases, "        %s/*) words=\"%s $(\"${COMP_WORDS[0]}\" list --names 2>/dev/null)\" ;;\n", c.Name, words)
		case c.Name == "completion":
			fmt.Fprintf(&cases, "        %s/*) words=\"bash zsh\" ;;\n", c.Name)
		default:
			fmt.Fprintf(&cases, "        %s/*) words=%q ;;\n", c.Name, words)
		}
	}
	_, err := fmt.Fprintf(w, `# bash completion for logstreamctl; load with: source <(logstreamctl completion bash)
_logstreamctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" sub="" words="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) if [[ -z "$cmd" ]]; then cmd="${COMP_WORDS[i]}"; elif [[ -z "$sub" ]]; then sub="${COMP_WORDS[i]}"; fi ;;
        esac
    done
    case "$cmd/$sub" in
        /) words=%q ;;
%s    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _logstreamctl logstreamctl ./logstreamctl
`, strings.Join(append(top, "help"), " "), cases.String())
	return err
}
