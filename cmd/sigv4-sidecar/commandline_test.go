package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelpListsSubcommands: --help, help, -h and no arguments list the
// subcommands one line each, demo first, and point at serve --help for
// the options; they do not print serve's options. (No arguments with a
// SIGV4_ variable set still serve: TestInvalidOptionsStopTheStart.)
func TestHelpListsSubcommands(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"-h"}, {"help"}} {
		var stdout bytes.Buffer
		if err := runEnv(context.Background(), args, nil, &stdout, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		out := stdout.String()
		var listed []string
		for line := range strings.SplitSeq(out, "\n") {
			if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) > 1 {
				listed = append(listed, f[0])
			}
		}
		if len(listed) != len(commands) || listed[0] != "demo" {
			t.Errorf("%v: listed %v, want all %d commands with demo first:\n%s", args, listed, len(commands), out)
		}
		for _, c := range commands {
			if strings.Count(out, "\n  "+c.name+" ") != 1 {
				t.Errorf("%v: %s not listed exactly once", args, c.name)
			}
		}
		if !strings.Contains(out, "`sigv4-sidecar serve --help` lists the proxy's options") {
			t.Errorf("%v: does not point at serve --help:\n%s", args, out)
		}
		if strings.Contains(out, "--upstream") || strings.Count(out, "\n") > 20 {
			t.Errorf("%v: prints serve's options instead of the commands:\n%s", args, out)
		}
	}
}

// TestFlagErrorsUseTwoDashes: every subcommand reports a flag problem in
// one line with the flag as documented (--region, not -region), suggests
// the nearest of its own flags for a typo, and prints nothing else.
func TestFlagErrorsUseTwoDashes(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"check", "--region"}, "flag needs an argument: --region (see sigv4-sidecar check --help)"},
		{[]string{"check", "--regoin", "x"}, "unknown option --regoin: did you mean --region? (see sigv4-sidecar check --help)"},
		{[]string{"check", "--timeout", "soon"}, `invalid value "soon" for --timeout: parse error`},
		{[]string{"serve", "--upstrem", "http://x"}, "unknown option --upstrem: did you mean --upstream?"},
		{[]string{"--upstrem", "http://x"}, "unknown option --upstrem: did you mean --upstream? (see sigv4-sidecar serve --help)"},
		{[]string{"demo", "-lisen", "x"}, "unknown option --lisen: did you mean --listen?"},
		{[]string{"healthcheck", "--ready=maybe"}, `invalid boolean value "maybe" for --ready`},
		{[]string{"version", "--jsn"}, "unknown option --jsn: did you mean --json?"},
		{[]string{"explain", "--payload"}, "flag needs an argument: --payload"},
		{[]string{"explain", "-H"}, "flag needs an argument: -H"},
		{[]string{"presign", "--expire", "1m", "http://x"}, "did you mean --expires?"},
		{[]string{"diagnose", "--zzzzzz"}, "unknown option --zzzzzz (see sigv4-sidecar diagnose --help)"},
		{[]string{"serv"}, `unknown command "serv": did you mean serve?`},
	}
	oneDash := regexp.MustCompile(`(^|[ :])-[a-z][a-z-]+`)
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		err := runEnv(context.Background(), tc.args, nil, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want one line containing %q", tc.args, err, tc.want)
			continue
		}
		if m := oneDash.FindString(err.Error()); m != "" {
			t.Errorf("%v: %q names a flag with one dash (%q)", tc.args, err, m)
		}
		if stdout.Len()+stderr.Len() > 0 {
			t.Errorf("%v: printed more than the error:\n%s%s", tc.args, stdout.String(), stderr.String())
		}
	}
}

// TestSubcommandHelpUsesTwoDashes: a subcommand's --help lists its flags
// as they are typed.
func TestSubcommandHelpUsesTwoDashes(t *testing.T) {
	var stderr bytes.Buffer
	if err := runEnv(context.Background(), []string{"check", "--help"}, nil, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	help := stderr.String()
	for _, want := range []string{"Usage: sigv4-sidecar check", "\n  --endpoint string\n", "\n  --role-arn VALUE\n", "(default 10s)"} {
		if !strings.Contains(help, want) {
			t.Errorf("check --help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "\n  -endpoint") {
		t.Errorf("check --help names a flag with one dash:\n%s", help)
	}
}

// isolateFromAWS leaves the SDK nothing to find: no AWS_ variables, empty
// config and credentials files, and IMDS disabled so that nothing dials
// the metadata address.
func isolateFromAWS(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

const noCredentialsFix = "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or --profile), or run on AWS with a role"

// TestNoCredentialsMessage: with no credentials anywhere, check and
// explain say what to set, once, without the SDK's chain of IMDS errors.
func TestNoCredentialsMessage(t *testing.T) {
	isolateFromAWS(t)
	env := []string{"AWS_EC2_METADATA_DISABLED=true"}

	var stdout, stderr bytes.Buffer
	err := runEnv(context.Background(), []string{"check"}, env, &stdout, &stderr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("check: got %v, want exit 1", err)
	}
	all := stdout.String() + stderr.String() + err.Error()
	if want := "credentials: " + noCredentialsFix; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("check printed %q, want it to start with %q", stdout.String(), want)
	}
	if strings.Count(all, "no credentials found") != 1 {
		t.Errorf("check says its failure more than once:\n%s\n%v", stdout.String(), err)
	}
	for _, sdkNoise := range []string{"IMDS", "ec2imds", "GetMetadata", "operation error"} {
		if strings.Contains(all, sdkNoise) {
			t.Errorf("check shows the SDK's chain (%q):\n%s\n%v", sdkNoise, stdout.String(), err)
		}
	}

	err = runEnv(context.Background(), []string{"explain", "http://x.execute-api.us-east-1.amazonaws.com/"}, env, io.Discard, io.Discard)
	if err == nil || err.Error() != noCredentialsFix+" (EC2 instance profile, EKS IRSA or Pod Identity, ECS task role) (or use --example-credentials)" {
		t.Errorf("explain: got %v", err)
	}
}

// TestCompletionBash sources the bash script and calls its function as
// bash's completion would, with COMP_WORDS and COMP_CWORD set.
func TestCompletionBash(t *testing.T) {
	var script bytes.Buffer
	if err := runEnv(context.Background(), []string{"completion", "bash"}, nil, &script, io.Discard); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c",
			`source "$1"; COMP_WORDS=(`+strings.Join(quoted, " ")+`); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _sigv4_sidecar; printf '%s\n' "${COMPREPLY[@]}"`,
			"bash", writeTemp(t, "script", script.String()))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	cases := []struct {
		words []string
		want  string
	}{
		{[]string{"sigv4-sidecar", "de"}, "demo"},
		{[]string{"sigv4-sidecar", "ch"}, "check"},
		{[]string{"sigv4-sidecar", "check", "--reg"}, "--region"},
		{[]string{"sigv4-sidecar", "serve", "--upst"}, "--upstream --upstream-ca-file"},
		{[]string{"sigv4-sidecar", "--upst"}, "--upstream --upstream-ca-file"},
		{[]string{"sigv4-sidecar", "version", "--"}, "--help --json"},
		{[]string{"sigv4-sidecar", "demo", "--l"}, "--listen"},
		{[]string{"sigv4-sidecar", "op"}, "options"},
		{[]string{"sigv4-sidecar", "options", "--m"}, "--markdown"},
		{[]string{"sigv4-sidecar", "explain", "-"}, ""},
	}
	for _, tc := range cases {
		got := strings.Join(complete(tc.words...), " ")
		if tc.want == "" {
			// explain's flags from its own flag set: -X, -H, -d among them.
			for _, f := range []string{"-X", "-H", "-d", "--example-credentials", "--role-arn"} {
				if !strings.Contains(" "+got+" ", " "+f+" ") {
					t.Errorf("%v: %q lacks %s", tc.words, got, f)
				}
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%v: completed %q, want %q", tc.words, got, tc.want)
		}
	}
}

// TestCompletionZsh: the zsh script holds every subcommand and, for each,
// its flags as its flag set has them, and it parses and registers with
// compdef in a real zsh (`make unit` installs zsh).
func TestCompletionZsh(t *testing.T) {
	var script bytes.Buffer
	if err := runEnv(context.Background(), []string{"completion", "zsh"}, nil, &script, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := script.String()
	flags, err := commandFlagNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range usageOrder() {
		if !strings.Contains(s, "'"+c.name+":") {
			t.Errorf("zsh script lacks the subcommand %s", c.name)
		}
		if !strings.Contains(s, ") flags=("+strings.Join(flags[i], " ")+") ;;") {
			t.Errorf("zsh script lacks %s's flags", c.name)
		}
	}
	for _, f := range []string{"--upstream", "--exit-without-credentials", "--admin-listen", "--json"} {
		if !regexp.MustCompile(`[ (]` + f + `[ )]`).MatchString(s) {
			t.Errorf("zsh script lacks %s", f)
		}
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Fatalf("zsh is needed to parse the script: `make unit` installs it (apt-get install zsh): %v", err)
	}
	file := writeTemp(t, "script", script.String())
	if out, err := exec.Command(zsh, "-n", file).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
	// Sourced after compinit, it registers its function for the command.
	cmd := exec.Command(zsh, "-f", "-c", `autoload -Uz compinit; compinit -u -D; source "$1"; print -r -- $_comps[sigv4-sidecar]`, "zsh", file)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "_sigv4_sidecar" {
		t.Errorf("zsh: %v: %s", err, out)
	}
}
