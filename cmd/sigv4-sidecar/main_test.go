package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// runEnv is run with an explicit environment and no stdin.
func runEnv(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, invocation{args: args, environ: environ, stdout: stdout, stderr: stderr})
}

const (
	testKeyID  = "AKIDCMDTESTKEY000001"
	testSecret = "cmdTestSecretKeyValue/EXAMPLE+0123456789"
)

// TestHelpListsEveryOption checks --help names every option of
// sidecar.Config (nested ones included) with its variable and default.
func TestHelpListsEveryOption(t *testing.T) {
	var out bytes.Buffer
	if err := runEnv(context.Background(), []string{"serve", "--help"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	opts := optionsOf(&sidecar.Config{})
	if len(opts) < 30 {
		t.Fatalf("only %d options found by reflection", len(opts))
	}
	for _, o := range opts {
		if !strings.Contains(help, "--"+o.flag+" ") || !strings.Contains(help, "env "+o.env) {
			t.Errorf("--help lacks --%s / %s", o.flag, o.env)
		}
		if o.def != "" && !strings.Contains(help, "env "+o.env+", default "+o.def+"\n") {
			t.Errorf("--help lacks the default %q of --%s", o.def, o.flag)
		}
	}
	for _, nested := range []string{"--role-arn", "SIGV4_ROLE_ARN", "--profile"} {
		if !strings.Contains(help, nested) {
			t.Errorf("--help lacks the credentials option %s", nested)
		}
	}
}

func TestEnvAndFlagPrecedence(t *testing.T) {
	environ := []string{
		"SIGV4_LISTEN=127.0.0.1:7000", "SIGV4_ADMIN_LISTEN=127.0.0.1:7001",
		"SIGV4_CONNECT_TO=a.amazonaws.com:443=127.0.0.1:1,b.amazonaws.com:443=127.0.0.1:2",
		"SIGV4_BODY_MEMORY=1MiB", "SIGV4_ROLE_ARN=arn:aws:iam::123456789012:role/r", "SIGV4_SHUTDOWN_TIMEOUT=5s",
	}
	cfg, err := loadConfig("serve", nil, environ, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7000" || len(cfg.ConnectTo) != 2 || cfg.BodyMemory != 1<<20 || cfg.RoleARN == "" || cfg.ShutdownTimeout != 5*time.Second {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.Payload != "auto" || cfg.MaxBody != 5<<30 || cfg.LogFormat != "json" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	cfg, err = loadConfig("serve", []string{"--listen", "127.0.0.1:7100", "--connect-to", "c.amazonaws.com:443=127.0.0.1:3",
		"--connect-to=d.amazonaws.com:443=127.0.0.1:4", "--body-memory", "2MiB", "--payload=signed"}, environ, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7100" || cfg.BodyMemory != 2<<20 || cfg.Payload != "signed" {
		t.Errorf("flags did not win: %+v", cfg)
	}
	if strings.Join(cfg.ConnectTo, " ") != "c.amazonaws.com:443=127.0.0.1:3 d.amazonaws.com:443=127.0.0.1:4" {
		t.Errorf("--connect-to should replace the variable's list and repeat: %v", cfg.ConnectTo)
	}
}

// TestInvalidOptionsStopTheStart checks the one-line messages and the
// non-nil error (non-zero exit) for bad flags and variables.
func TestInvalidOptionsStopTheStart(t *testing.T) {
	cases := []struct {
		args    []string
		environ []string
		want    string
	}{
		{[]string{"--upstream", "ftp://x"}, nil, `invalid --upstream "ftp://x": scheme must be http or https`},
		{[]string{"--body-memory", "8XB"}, nil, `invalid --body-memory "8XB": not a size`},
		{[]string{"--shutdown-timeout", "soon"}, nil, `invalid --shutdown-timeout "soon": not a duration`},
		{[]string{"--max-idle-conns-per-host", "many"}, nil, `invalid --max-idle-conns-per-host "many": not a number`},
		{nil, []string{"SIGV4_BODY_MEMORY=8XB"}, `invalid SIGV4_BODY_MEMORY "8XB" (--body-memory): not a size`},
		{nil, []string{"SIGV4_IDLE_TIMEOUT=forever"}, `invalid SIGV4_IDLE_TIMEOUT "forever" (--idle-timeout): not a duration`},
		{nil, []string{"SIGV4_PAYLOAD=fast"}, `invalid --payload "fast": must be auto, signed, unsigned or chunked`},
		{[]string{"--no-such-option"}, nil, `unknown option --no-such-option (see sigv4-sidecar serve --help)`},
		{[]string{"-no-such-option"}, nil, `unknown option --no-such-option`},
		{[]string{"extra"}, nil, `unknown command "extra"`},
		{[]string{"serve", "extra"}, nil, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		var stdout bytes.Buffer
		err := runEnv(context.Background(), tc.args, tc.environ, &stdout, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: got %v, want one line containing %q", tc.args, tc.environ, err, tc.want)
		}
	}
}

type fixedSource struct {
	err error
}

func (s fixedSource) Retrieve(context.Context) (creds.Credentials, error) {
	if s.err != nil {
		return creds.Credentials{}, s.err
	}
	return creds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Source: "test"}, nil
}
func (fixedSource) Invalidate(string) {}

func TestHealthcheck(t *testing.T) {
	ready := httptest.NewServer(&sidecar.Admin{Credentials: fixedSource{}})
	defer ready.Close()
	notReady := httptest.NewServer(&sidecar.Admin{Credentials: fixedSource{err: creds.ErrNoCredentials}})
	defer notReady.Close()
	addr := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	cases := []struct {
		args    []string
		environ []string
		ok      bool
	}{
		{[]string{"--admin-listen", addr(ready)}, nil, true},
		{[]string{"--admin-listen", addr(ready), "--ready"}, nil, true},
		{[]string{"--ready"}, []string{"SIGV4_ADMIN_LISTEN=" + addr(ready)}, true},
		{[]string{"--admin-listen", addr(notReady)}, nil, true},
		{[]string{"--admin-listen", addr(notReady), "--ready"}, nil, false},
		{[]string{"--admin-listen", "127.0.0.1:1"}, nil, false},
	}
	for _, tc := range cases {
		err := runEnv(context.Background(), append([]string{"healthcheck"}, tc.args...), tc.environ, io.Discard, io.Discard)
		var ee *exitError
		if tc.ok && err != nil || !tc.ok && !(errors.As(err, &ee) && ee.code == 1) {
			t.Errorf("healthcheck %v: %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
}

// verifyingUpstream checks each request's signature with aws-sdk-go-v2.
func verifyingUpstream(t *testing.T) (*httptest.Server, func() (int, error)) {
	var mu sync.Mutex
	count, firstErr := 0, error(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		err := func() error {
			auth := r.Header.Get("Authorization")
			i := strings.Index(auth, "SignedHeaders=")
			if i < 0 {
				return errors.New("unsigned request: " + auth)
			}
			signed := strings.Split(strings.Split(auth[i+len("SignedHeaders="):], ",")[0], ";")
			check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
			for _, h := range signed {
				if h != "host" {
					check.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
				}
			}
			when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
			if err != nil {
				return err
			}
			err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
				check, r.Header.Get("X-Amz-Content-Sha256"), "s3", "us-east-1", when, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err != nil {
				return err
			}
			if check.Header.Get("Authorization") != auth {
				return errors.New("signature mismatch")
			}
			return nil
		}()
		mu.Lock()
		count++
		if err != nil && firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), 403)
			return
		}
		w.Header().Set("X-Amz-Request-Id", "BINREQ")
		io.WriteString(w, "signed ok")
	}))
	t.Cleanup(srv.Close)
	return srv, func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return count, firstErr
	}
}

// TestMain removes the binary the package's tests share, if one was built.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBinary.dir != "" {
		os.RemoveAll(sharedBinary.dir)
	}
	os.Exit(code)
}

// goBuild is `go build` with args and the flags every build of `make test`
// shares, as the release is built: no cgo, -trimpath, linked with -s -w
// before ldflags. `make unit` runs these tests with CGO_ENABLED=1, which
// -race needs; a build that inherited it compiled every dependency once more
// (minutes of CPU on a cold machine). A link without DWARF takes a fraction
// of the CPU, and the version the tests read comes from the build info,
// which stripping keeps.
func goBuild(ldflags string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags", strings.TrimSpace("-s -w " + ldflags)}, args...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// sharedBinaryVersion is the version the shared binary is stamped with, as
// `make build` stamps a release.
const sharedBinaryVersion = "v9.9.9-test"

// sharedBinary is the real binary, built once for every test that runs it:
// each build relinks it and compiles this package anew, seconds of CPU.
var sharedBinary struct {
	once      sync.Once
	dir, path string
	err       error
}

// builtBinary returns the path of the binary built from this checkout,
// stamped with sharedBinaryVersion. Tests only run it, never change it.
func builtBinary(t *testing.T) string {
	t.Helper()
	sharedBinary.once.Do(func() {
		if _, err := exec.LookPath("go"); err != nil {
			sharedBinary.err = errors.New("go toolchain not on PATH")
			return
		}
		dir, err := os.MkdirTemp("", "sigv4-sidecar-cmd-test-")
		if err != nil {
			sharedBinary.err = err
			return
		}
		sharedBinary.dir = dir
		bin := filepath.Join(dir, "sigv4-sidecar")
		build := goBuild("-X main.version="+sharedBinaryVersion, "-o", bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			sharedBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		sharedBinary.path = bin
	})
	if sharedBinary.err != nil {
		t.Fatal(sharedBinary.err)
	}
	return sharedBinary.path
}

// TestBinary runs the real binary: version stamping, a bad option, a
// signed round trip in fixed mode, healthcheck, and SIGTERM ending with
// exit 0.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := builtBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "sigv4-sidecar "+sharedBinaryVersion+" (") {
		t.Errorf("version: %q %v", out, err)
	}

	bad := exec.Command(bin, "--upstream", "ftp://x")
	var badErr bytes.Buffer
	bad.Stderr = &badErr
	if err := bad.Run(); err == nil || bad.ProcessState.ExitCode() == 0 {
		t.Errorf("bad option: exit %d", bad.ProcessState.ExitCode())
	}
	if got := strings.TrimSpace(badErr.String()); got != `sigv4-sidecar: invalid --upstream "ftp://x": scheme must be http or https` {
		t.Errorf("bad option stderr %q", got)
	}

	up, stats := verifyingUpstream(t)
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", up.URL, "--service", "s3", "--region", "us-east-1")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret,
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var logs bytes.Buffer
	var logsMu sync.Mutex
	listening := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logsMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logsMu.Unlock()
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "listening" {
				listening <- line
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	var line map[string]any
	select {
	case line = <-listening:
	case err := <-exited:
		t.Fatalf("serve exited early: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("no listening line")
	}
	proxyAddr, _ := line["proxy_addr"].(string)
	adminAddr, _ := line["admin_addr"].(string)

	resp, err := http.Get("http://" + proxyAddr + "/bucket/key.txt?versionId=3")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	n, verr := stats()
	if resp.StatusCode != 200 || string(body) != "signed ok" || n != 1 || verr != nil {
		t.Fatalf("round trip: %d %q, upstream saw %d requests, %v", resp.StatusCode, body, n, verr)
	}

	// The proxy records a request after its answer has reached the client,
	// so the counter may lag the response by a moment: poll, bounded.
	var status int
	var metrics []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mresp, err := http.Get("http://" + adminAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(mresp.Body)
		mresp.Body.Close()
		status = mresp.StatusCode
		if (status == 200 && strings.Contains(string(metrics), "sigv4_sidecar_requests_total")) || time.Now().After(deadline) {
			break
		}
	}
	if status != 200 || !strings.Contains(string(metrics), "sigv4_sidecar_requests_total") {
		t.Errorf("/metrics: %d, no request counter", status)
	}

	hc := exec.Command(bin, "healthcheck", "--ready", "--admin-listen", adminAddr)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck --ready: %v %s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v (want exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	logsMu.Lock()
	defer logsMu.Unlock()
	all := logs.String()
	if !strings.Contains(all, `"aws_request_id":"BINREQ"`) || !strings.Contains(all, `"msg":"stopped"`) {
		t.Errorf("logs lack the request line or the stop:\n%s", all)
	}
	if strings.Contains(all, testSecret) {
		t.Error("the secret key reached the log")
	}
}
