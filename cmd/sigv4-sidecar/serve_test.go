package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds/credstest"
)

// TestServeListeningLineAtLogLevelError runs serve with --log-level error
// (in SIGV4_LOG_LEVEL as a chart sets it, and as a flag): its stderr still
// holds the JSON "listening" line with the real addresses, which answer,
// and nothing else, since every other line of a quiet start and stop is
// below error.
func TestServeListeningLineAtLogLevelError(t *testing.T) {
	setStaticKeys(t)
	up, stats := verifyingUpstream(t)
	for _, how := range []struct {
		name    string
		args    []string
		environ []string
	}{
		{"Flag", []string{"--log-level", "error"}, nil},
		{"Variable", nil, []string{"SIGV4_LOG_LEVEL=error"}},
	} {
		t.Run(how.name, func(t *testing.T) {
			line, stderr, stop := serveInProcess(t, append([]string{"--upstream", up.URL, "--service", "s3", "--region", "us-east-1"}, how.args...), how.environ)
			proxyAddr, _ := line["proxy_addr"].(string)
			adminAddr, _ := line["admin_addr"].(string)
			if line["level"] != "INFO" || line["mode"] != "fixed" {
				t.Errorf("listening line %v, want level INFO and mode fixed", line)
			}
			resp, err := http.Get("http://" + adminAddr + "/healthz")
			if err != nil {
				t.Fatalf("admin_addr %q from the listening line: %v", adminAddr, err)
			}
			resp.Body.Close()
			before, _ := stats()
			resp, err = http.Get("http://" + proxyAddr + "/bucket/key")
			if err != nil {
				t.Fatalf("proxy_addr %q from the listening line: %v", proxyAddr, err)
			}
			resp.Body.Close()
			if n, verr := stats(); resp.StatusCode != 200 || n != before+1 || verr != nil {
				t.Errorf("through proxy_addr: status %d, upstream saw %d new requests, %v", resp.StatusCode, n-before, verr)
			}

			stop()
			if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 {
				t.Errorf("stderr holds %d lines at --log-level error, want only the listening line:\n%s", len(lines), stderr)
			}
		})
	}
}

// serveInProcess runs serve with args and environ until the test ends or
// stop is called, and returns its listening line, the stderr it writes to
// and stop, which waits for serve to return.
func serveInProcess(t *testing.T, args, environ []string) (map[string]any, *syncBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runEnv(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...), environ, io.Discard, stderr)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(stop)
	deadline := time.After(30 * time.Second)
	for {
		for _, l := range strings.Split(stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" {
				return m, stderr, stop
			}
		}
		select {
		case err := <-done:
			stopped = true // serve has returned: the cleanup must not wait for it again
			t.Fatalf("serve returned %v without a listening line:\n%s", err, stderr)
		case <-deadline:
			t.Fatalf("no listening line:\n%s", stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// setStaticKeys keeps the machine's own AWS configuration away and gives
// serve static keys in the environment.
func setStaticKeys(t *testing.T) {
	credstest.IsolateEnvironment(t, "")
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
}

// TestServeMaxProcs: serve runs on one P unless told otherwise (--max-procs
// or SIGV4_MAX_PROCS, or an operator's own GOMAXPROCS variable), says so in
// its listening line, and gives the process its setting back when it
// returns.
func TestServeMaxProcs(t *testing.T) {
	setStaticKeys(t)
	up, _ := verifyingUpstream(t)
	fixed := []string{"--upstream", up.URL, "--service", "s3", "--region", "us-east-1"}
	before := runtime.GOMAXPROCS(0)
	for _, c := range []struct {
		name    string
		args    []string
		environ []string
		want    int
	}{
		{"Default", nil, nil, 1},
		{"Flag", []string{"--max-procs", "3"}, nil, 3},
		{"Variable", nil, []string{"SIGV4_MAX_PROCS=2"}, 2},
		{"GOMAXPROCSKept", nil, []string{"GOMAXPROCS=" + strconv.Itoa(before)}, before},
		{"GoDefault", []string{"--max-procs", "0"}, nil, before},
	} {
		t.Run(c.name, func(t *testing.T) {
			line, _, stop := serveInProcess(t, append(fixed, c.args...), c.environ)
			if got, _ := line["max_procs"].(float64); int(got) != c.want {
				t.Errorf("listening line max_procs %v, want %d", line["max_procs"], c.want)
			}
			stop()
			if n := runtime.GOMAXPROCS(0); n != before {
				t.Errorf("GOMAXPROCS %d after serve returned, want %d back", n, before)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	err := runEnv(context.Background(), []string{"serve", "--max-procs", "many"}, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `invalid --max-procs "many"`) {
		t.Errorf("--max-procs many: %v", err)
	}
}

// TestServeWritesHeldRequestLinesOnExit: request lines wait for their batch
// (--log-flush-interval), and none is lost when serve stops before the
// batch is due.
func TestServeWritesHeldRequestLinesOnExit(t *testing.T) {
	setStaticKeys(t)
	up, _ := verifyingUpstream(t)
	line, stderr, stop := serveInProcess(t, []string{"--upstream", up.URL, "--service", "s3", "--region", "us-east-1",
		"--log-flush-interval", "1h"}, nil)
	proxyAddr, _ := line["proxy_addr"].(string)
	for i := range 5 {
		resp, err := http.Get("http://" + proxyAddr + "/bucket/key" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := strings.Count(stderr.String(), `"msg":"request"`); n != 0 {
		t.Fatalf("%d request lines written before their batch was due", n)
	}
	stop()
	if n := strings.Count(stderr.String(), `"msg":"request"`); n != 5 {
		t.Fatalf("%d request lines after serve returned, want 5:\n%s", n, stderr)
	}
}
