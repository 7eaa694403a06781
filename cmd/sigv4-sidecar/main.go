// Command sigv4-sidecar is a SigV4 signing proxy: see `sigv4-sidecar --help`.
//
// main only wires: it turns signals into a context and hands the arguments to
// run. Each subcommand lives in its own file and is one line in commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
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
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, inv invocation) error
}

// commands lists every subcommand; the first is the default. Adding one is
// one line here and one file holding its run function.
var commands = []command{
	{"serve", "run the signing proxy (the default)", runServe},
	{"version", "print the version and exit", runVersion},
	{"healthcheck", "probe a running proxy's admin listener (/healthz, or /readyz with --ready); exit 0 when healthy", runHealthcheck},
	{"explain", "sign a request as the proxy would and print scope, canonical request, string to sign and Authorization; sends nothing", runExplain},
	{"presign", "print a presigned URL (signature in the query string) for a request, valid for --expires; sends nothing", runPresign},
	{"diagnose", "list every problem with a signed request (and an AWS error body), each with its fix; exit 1 when any", runDiagnose},
	{"check", "load credentials, call STS GetCallerIdentity signed by our signer, report identity, expiry and clock offset; exit 0 when usable", runCheck},
	{"demo", "run the proxy in front of a local upstream that verifies SigV4 with example keys, and print a curl line to try; no AWS account needed", runDemo},
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
// first argument is an option or there is none, with the arguments after
// the subcommand's name.
func dispatch(ctx context.Context, inv invocation) error {
	args := inv.args
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
			if args[0] == "help" {
				usage(inv.stdout)
				return nil
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

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sigv4-sidecar [command] [options]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `sigv4-sidecar <command> --help` for a command's options.")
}
