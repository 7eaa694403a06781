// Command sigv4-sidecar is a SigV4 signing proxy: see `sigv4-sidecar --help`.
//
// main only wires: it turns signals into a context and hands the arguments to
// run. Each subcommand lives in its own file and is one line in commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
// Left at "dev", `version` reports the module version from the build info
// (currentVersion).
var version = "dev"

// invocation is what a subcommand gets: its arguments (after the subcommand
// name), the environment, where to read (a nil stdin reads as empty) and
// where to write.
type invocation struct {
	args    []string
	environ []string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	// listFlags, when set, receives the subcommand's flag set instead of
	// the subcommand running (completion reads the flags so).
	listFlags func(*flag.FlagSet)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, inv invocation) error
}

// commands lists every subcommand; the first is the default. Adding one is
// one line here and one file holding its run function. It is set in init
// because completion reads it.
var commands []command

func init() {
	commands = []command{
		{"serve", "run the signing proxy (the default)", runServe},
		{"version", "print the version and exit", runVersion},
		{"healthcheck", "probe a running proxy's admin listener (/healthz, or /readyz with --ready); exit 0 when healthy", runHealthcheck},
		{"explain", "sign a request as the proxy would and print scope, canonical request, string to sign and Authorization; sends nothing", runExplain},
		{"presign", "print a presigned URL (signature in the query string) for a request, valid for --expires; sends nothing", runPresign},
		{"diagnose", "list every problem with a signed request (and an AWS error body), each with its fix; exit 1 when any", runDiagnose},
		{"check", "load credentials, call STS GetCallerIdentity signed by our signer, report identity, expiry and clock offset; exit 0 when usable", runCheck},
		{"demo", "run the proxy in front of a local upstream that verifies SigV4 with example keys, and print a curl line to try; no AWS account needed", runDemo},
		{"routes", "print the routes (options and --config file), or the route a URL takes and what it is signed as; sends nothing", runRoutes},
		{"ca", "ca init DIR [--days N]: create the CA for --mitm-ca-cert and --mitm-ca-key (HTTPS_PROXY clients); states its lifetime", runCA},
		{"options", "print every option with its SIGV4_ variable and default, and the other commands' flags (--markdown: the page docs/options.md)", runOptions},
		{"completion", "print a bash or zsh completion script: source <(sigv4-sidecar completion bash)", runCompletion},
	}
}

// exitError carries a specific exit code (healthcheck's 1 without noise).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "sigv4-sidecar: "+ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "sigv4-sidecar: "+err.Error())
		os.Exit(1)
	}
}

// run dispatches args to a subcommand, with the process environment.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, invocation{args: args, environ: os.Environ(), stdin: stdin, stdout: stdout, stderr: stderr})
}

// dispatch runs the subcommand inv.args names, or commands[0] when the
// first argument is an option, with the arguments after the subcommand's
// name. help, -h or --help print the list of subcommands, and so do no
// arguments unless a SIGV4_ variable is set: configured by its variables
// alone, the binary still serves, as it did before it had subcommands.
func dispatch(ctx context.Context, inv invocation) error {
	args := inv.args
	if (len(args) == 0 && !configuredByEnvironment(inv.environ)) || (len(args) == 1 && isHelp(args[0])) {
		usage(inv.stdout)
		return nil
	}
	cmd := commands[0]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		found := false
		for _, c := range commands {
			if c.name == args[0] {
				cmd, found = c, true
				break
			}
		}
		if !found {
			for _, c := range commands {
				if editDistance(args[0], c.name) <= 2 {
					return fmt.Errorf("unknown command %q: did you mean %s? (commands: %s)", args[0], c.name, commandNames())
				}
			}
			return fmt.Errorf("unknown command %q (commands: %s)", args[0], commandNames())
		}
		args = args[1:]
	}
	inv.args = args
	return cmd.run(ctx, inv)
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func configuredByEnvironment(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, sidecar.EnvPrefix) {
			return true
		}
	}
	return false
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// usage lists the subcommands, one line each, demo first: it is the one
// that runs with no AWS account, so a newcomer's first try.
func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sigv4-sidecar <command> [options]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range usageOrder() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`sigv4-sidecar serve --help` lists the proxy's options; `sigv4-sidecar <command> --help` another command's.")
}

// usageOrder is commands with demo moved to the front.
func usageOrder() []command {
	var out []command
	for _, c := range commands {
		if c.name == "demo" {
			out = append([]command{c}, out...)
		} else {
			out = append(out, c)
		}
	}
	return out
}
