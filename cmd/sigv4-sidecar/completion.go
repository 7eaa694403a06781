package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// runCompletion prints a shell completion script for bash or zsh. The
// subcommands and each one's flags are read from the flag sets the
// subcommands parse with, so the script cannot drift from them.
func runCompletion(ctx context.Context, inv invocation) error {
	if len(inv.args) == 1 && isHelp(inv.args[0]) {
		fmt.Fprintln(inv.stderr, "Usage: sigv4-sidecar completion bash|zsh")
		fmt.Fprintln(inv.stderr, "Prints a completion script: source <(sigv4-sidecar completion bash) in ~/.bashrc, or the zsh one after compinit in ~/.zshrc.")
		return nil
	}
	if len(inv.args) != 1 || (inv.args[0] != "bash" && inv.args[0] != "zsh") {
		return &exitError{code: 2, msg: "completion takes one shell: bash or zsh (see sigv4-sidecar completion --help)"}
	}
	flags, err := commandFlagNames(ctx)
	if err != nil {
		return err
	}
	if inv.args[0] == "bash" {
		return writeBashCompletion(inv.stdout, flags)
	}
	return writeZshCompletion(inv.stdout, flags)
}

// commandFlagNames returns every subcommand's flags as typed (--name,
// -X), in usage order.
func commandFlagNames(ctx context.Context) ([][]string, error) {
	var all [][]string
	for _, c := range usageOrder() {
		fs, err := commandFlagSet(ctx, c)
		if err != nil {
			return nil, err
		}
		names := []string{"--help"}
		fs.VisitAll(func(f *flag.Flag) { names = append(names, dashed(f.Name)) })
		sort.Strings(names)
		all = append(all, names)
	}
	return all, nil
}

// commandFlagSet returns the flag set subcommand c parses with, its flags
// at their defaults (no SIGV4_ variable read). serve's are its options;
// the others', what the subcommand registers before it parses
// (invocation.listFlags); completion has none.
func commandFlagSet(ctx context.Context, c command) (*flag.FlagSet, error) {
	var fs *flag.FlagSet
	switch c.name {
	case "serve":
		fs, _, _ = serveFlags("serve", &sidecar.Config{})
	case "completion":
		fs = flag.NewFlagSet("completion", flag.ContinueOnError)
	default:
		inv := invocation{stdout: io.Discard, stderr: io.Discard, listFlags: func(f *flag.FlagSet) { fs = f }}
		if err := c.run(ctx, inv); err != nil || fs == nil {
			return nil, fmt.Errorf("reading the flags of %s: %v", c.name, err)
		}
	}
	return fs, nil
}

func writeBashCompletion(w io.Writer, flags [][]string) error {
	var b strings.Builder
	b.WriteString("# bash completion for sigv4-sidecar: source <(sigv4-sidecar completion bash)\n")
	b.WriteString("_sigv4_sidecar() {\n")
	b.WriteString("    local cur=${COMP_WORDS[COMP_CWORD]} flags\n")
	fmt.Fprintf(&b, "    if [[ $COMP_CWORD -eq 1 && $cur != -* ]]; then\n        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n        return\n    fi\n", strings.Join(commandNamesInUsageOrder(), " "))
	b.WriteString("    [[ $cur == -* ]] || return\n")
	b.WriteString("    case ${COMP_WORDS[1]} in\n")
	for i, c := range usageOrder() {
		pattern := c.name
		if c.name == commands[0].name {
			pattern += "|-*" // options without a subcommand are the default's
		}
		fmt.Fprintf(&b, "        %s) flags=%q ;;\n", pattern, strings.Join(flags[i], " "))
	}
	b.WriteString("    esac\n")
	b.WriteString("    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n")
	b.WriteString("}\n")
	b.WriteString("complete -o default -F _sigv4_sidecar sigv4-sidecar\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeZshCompletion(w io.Writer, flags [][]string) error {
	var b strings.Builder
	b.WriteString("#compdef sigv4-sidecar\n")
	b.WriteString("# zsh completion for sigv4-sidecar: after compinit, source <(sigv4-sidecar completion zsh)\n")
	b.WriteString("_sigv4_sidecar() {\n")
	b.WriteString("    local -a subcommands flags\n")
	b.WriteString("    subcommands=(\n")
	for _, c := range usageOrder() {
		fmt.Fprintf(&b, "        %s\n", zshQuote(c.name+":"+c.summary))
	}
	b.WriteString("    )\n")
	b.WriteString("    if (( CURRENT == 2 )) && [[ $PREFIX != -* ]]; then\n        _describe 'command' subcommands\n        return\n    fi\n")
	b.WriteString("    case $words[2] in\n")
	for i, c := range usageOrder() {
		pattern := c.name
		if c.name == commands[0].name {
			pattern = "(" + c.name + "|-*)"
		}
		fmt.Fprintf(&b, "        %s) flags=(%s) ;;\n", pattern, strings.Join(flags[i], " "))
	}
	b.WriteString("    esac\n")
	b.WriteString("    if [[ $PREFIX == -* ]]; then\n        compadd -a flags\n    else\n        _files\n    fi\n")
	b.WriteString("}\n")
	b.WriteString("compdef _sigv4_sidecar sigv4-sidecar\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote single-quotes s for zsh.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func commandNamesInUsageOrder() []string {
	var names []string
	for _, c := range usageOrder() {
		names = append(names, c.name)
	}
	return names
}
