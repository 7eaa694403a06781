package chartstest

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nonroot is the uid:gid of distroless's nonroot user, which the image runs as.
const nonroot = "65532:65532"

// TestBinaryFromEmptyRoot builds the binary as the Dockerfile does (make build) and runs it the way the
// distroless image does: from a root holding only the binary and a CA bundle (no libc, no shell, no
// /etc/passwd), as uid 65532. version prints the stamped version, serve signs, and healthcheck passes
// against the running instance and fails once it is stopped.
func TestBinaryFromEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chroots into an empty root, which needs root (CI runs the tests as root)")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil { // t.TempDir is 0700: uid 65532 could not enter it
		t.Fatal(err)
	}
	bin := filepath.Join(root, "sigv4-sidecar")
	const version = "v0.0.0-chartstest"
	build := exec.Command("make", "-C", "../..", "build", "BUILD_OUT="+bin, "VERSION="+version)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	checkStatic(t, bin)
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		if err := os.MkdirAll(filepath.Join(root, "etc/ssl/certs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// inRoot runs the binary inside the root as nonroot, with only env as its environment.
	inRoot := func(ctx context.Context, env []string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "chroot", append([]string{"--userspec=" + nonroot, root, "/sigv4-sidecar"}, args...)...)
		cmd.Env = env
		return cmd
	}

	out, err := inRoot(t.Context(), nil, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sigv4-sidecar "+version+" (") {
		t.Fatalf("version: %v, output %q, want it to start %q", err, out, "sigv4-sidecar "+version+" (")
	}

	upstreamAuth := make(chan string, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case upstreamAuth <- r.Header.Get("Authorization"):
		default:
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(upstream.Close)

	serve := inRoot(context.Background(), []string{
		"AWS_ACCESS_KEY_ID=AKIDCHARTSTEST",
		"AWS_SECRET_ACCESS_KEY=chartstest-secret",
		"AWS_EC2_METADATA_DISABLED=true",
	}, "serve", "--upstream", upstream.URL, "--service", "execute-api", "--region", "us-east-1",
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "5s")
	// An os.Pipe rather than StderrPipe: reading the log must not race with Wait closing the pipe.
	logs, logWriter, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	serve.Stderr = logWriter
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	logWriter.Close()
	wait := sync.OnceValue(serve.Wait)
	t.Cleanup(func() {
		serve.Process.Kill() // already gone when the test got as far as SIGTERM
		wait()
		logs.Close()
	})
	proxyAddr, adminAddr, logTail := waitListening(t, logs)
	if adminAddr == "" {
		t.Fatalf("serve exited (%v) without its listening line:\n%s", wait(), logTail)
	}

	// healthcheck runs as the chart's exec probes do: no flags, the address from SIGV4_ADMIN_LISTEN in
	// the container's environment (an unspecified host such as the gateway's 0.0.0.0 means loopback).
	_, adminPort, err := net.SplitHostPort(adminAddr)
	if err != nil {
		t.Fatal(err)
	}
	healthcheck := func(adminListen string, args ...string) error {
		cmd := inRoot(t.Context(), []string{"SIGV4_ADMIN_LISTEN=" + adminListen}, append([]string{"healthcheck"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.Join(err, errors.New(string(out)))
		}
		return nil
	}
	for _, listen := range []string{adminAddr, net.JoinHostPort("0.0.0.0", adminPort)} {
		if err := healthcheck(listen); err != nil {
			t.Errorf("healthcheck (SIGV4_ADMIN_LISTEN=%s) against the running proxy: %v", listen, err)
		}
		if err := healthcheck(listen, "--ready"); err != nil {
			t.Errorf("healthcheck --ready (SIGV4_ADMIN_LISTEN=%s) against the running proxy, credentials in its env: %v", listen, err)
		}
	}

	resp, err := http.Get("http://" + proxyAddr + "/prod/items")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if auth := <-upstreamAuth; !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDCHARTSTEST/") {
		t.Errorf("upstream got Authorization %q, want a SigV4 signature with the env's key", auth)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v, want exit 0", err)
	}
	err = healthcheck(adminAddr)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("healthcheck against the stopped proxy: %v, want exit status 1", err)
	}
}

// waitListening reads serve's JSON log until its "listening" line and returns the addresses in it; the
// rest of the log is drained in the background. Empty addresses: serve ended first.
func waitListening(t *testing.T, stderr io.Reader) (proxy, admin, tail string) {
	t.Helper()
	type line struct {
		Msg       string `json:"msg"`
		ProxyAddr string `json:"proxy_addr"`
		AdminAddr string `json:"admin_addr"`
	}
	found := make(chan line, 1)
	var seen strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l line
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" {
				found <- l
				io.Copy(io.Discard, stderr)
				return
			}
			seen.Write(sc.Bytes())
			seen.WriteByte('\n')
		}
		close(found)
	}()
	select {
	case l, ok := <-found:
		if !ok { // serve ended without the line; the goroutine is done with seen
			return "", "", seen.String()
		}
		return l.ProxyAddr, l.AdminAddr, ""
	case <-time.After(time.Minute):
		t.Fatal("no listening line from serve within a minute")
	}
	return "", "", ""
}

// checkStatic: no program interpreter and no shared libraries, so it runs where there is no libc.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (PT_INTERP): dynamically linked", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) != 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}
