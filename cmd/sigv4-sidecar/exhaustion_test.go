//go:build unix

package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// nofileVar, when set in this test binary's environment, makes it a small
// launcher: it lowers its own RLIMIT_NOFILE, soft and hard, to the value,
// and executes the program named by its first argument with the rest. That
// is how a test runs the sidecar under a descriptor limit (as `ulimit -n`
// would) without any tool besides itself.
const nofileVar = "SIGV4_TEST_EXEC_WITH_NOFILE"

func init() {
	limit := os.Getenv(nofileVar)
	if limit == "" {
		return
	}
	n, err := strconv.ParseUint(limit, 10, 64)
	if err == nil {
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
	}
	if err == nil {
		os.Unsetenv(nofileVar)
		err = syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	}
	fmt.Fprintf(os.Stderr, "%s=%s: %v\n", nofileVar, limit, err)
	os.Exit(2)
}

// TestUpstreamConnectionsUncappedAcrossHosts: in host mode every distinct
// host kept its own idle upstream connection, so 10,000 bucket names left
// 10,009 descriptors open, and under `ulimit -n 1024` the process ran out
// and then failed every request, a known host's included. The built binary
// runs under RLIMIT_NOFILE 1024 with its defaults; 3,000 distinct allowed
// hosts, half over plain HTTP and half over TLS (--connect-to to loopback
// upstreams), go through it: three times the limit, so that a descriptor
// kept per host runs out long before the end (the old code ran out after
// about a thousand and failed the other 1,998), and the budget's slots are
// each closed and reused several times. Its open descriptors stay well
// under the limit, and a request to a known host succeeds before, during
// and after.
func TestUpstreamConnectionsUncappedAcrossHosts(t *testing.T) {
	t.Parallel()
	const (
		nofile = 1024
		hosts  = 3000
		// The descriptors the sidecar may have open: under the limit, with
		// room to spare for what the reserve is kept for.
		maxFDs = 900
	)
	bin := builtBinary(t)
	dir := t.TempDir()

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			http.Error(w, "unsigned", http.StatusForbidden)
			return
		}
		io.WriteString(w, "ok")
	})
	plain := httptest.NewServer(ok)
	t.Cleanup(plain.Close)
	caFile := filepath.Join(dir, "ca.pem")
	secure := httptest.NewUnstartedServer(ok)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{wildcardCertificate(t, caFile, "*.s3.us-west-2.amazonaws.com")}}
	secure.StartTLS()
	t.Cleanup(secure.Close)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--allow-hosts", "*.amazonaws.com", "--log-level", "warn",
		"--connect-to", "*.s3.us-east-1.amazonaws.com:=http://"+plain.Listener.Addr().String(),
		"--connect-to", "*.s3.us-west-2.amazonaws.com:="+secure.Listener.Addr().String(),
		"--upstream-ca-file", caFile)
	cmd.Env = append(os.Environ(), nofileVar+"="+strconv.Itoa(nofile),
		"AWS_ACCESS_KEY_ID="+testKeyID, "AWS_SECRET_ACCESS_KEY="+testSecret, "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := make(chan string, 1)
	var tooMany atomic.Int64
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "listening" {
				addr, _ := line["proxy_addr"].(string)
				listening <- addr
			}
			if strings.Contains(sc.Text(), "too many open files") {
				tooMany.Add(1)
			}
		}
	}()
	var proxyAddr string
	select {
	case proxyAddr = <-listening:
	case <-time.After(30 * time.Second):
		t.Fatal("no listening line")
	}
	pid := cmd.Process.Pid
	if limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid)); err != nil || !strings.Contains(string(limits), "Max open files            1024                 1024") {
		t.Fatalf("the sidecar does not run under RLIMIT_NOFILE %d: %v\n%s", nofile, err, limits)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}
	t.Cleanup(client.CloseIdleConnections)
	get := func(host string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+proxyAddr+"/key", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Sigv4-Sidecar-Error") + " " + string(body)
	}
	known := func(when string) {
		t.Helper()
		for _, host := range []string{"known.s3.us-east-1.amazonaws.com", "known.s3.us-west-2.amazonaws.com"} {
			if status, body := get(host); status != http.StatusOK {
				t.Errorf("%s: the known host %s answered %d %s", when, host, status, body)
			}
		}
	}
	known("before")

	var maxSeen atomic.Int64
	notOK := map[string]int{}
	var notOKMu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				region := "us-east-1"
				if i%2 == 1 {
					region = "us-west-2"
				}
				if status, body := get(fmt.Sprintf("bucket-%d.s3.%s.amazonaws.com", i, region)); status != http.StatusOK {
					notOKMu.Lock()
					notOK[strconv.Itoa(status)+" "+strings.Fields(body + " -")[0]]++
					notOKMu.Unlock()
				}
			}
		})
	}
	for i := range hosts {
		jobs <- i
		if i%500 == 499 {
			maxSeen.Store(max(maxSeen.Load(), int64(openFDs(t, pid))))
			known(fmt.Sprintf("during, after %d hosts", i+1))
		}
	}
	close(jobs)
	wg.Wait()
	known("after")
	fds := openFDs(t, pid)
	t.Logf("after %d distinct hosts under RLIMIT_NOFILE %d: %d descriptors open (at most %d seen while they were sent), VmRSS %s; answers other than 200: %v; 'too many open files' lines: %d",
		hosts, nofile, fds, max(maxSeen.Load(), int64(fds)), rss(t, pid), notOK, tooMany.Load())
	if max(maxSeen.Load(), int64(fds)) >= maxFDs {
		t.Errorf("%d descriptors open, want fewer than %d", max(maxSeen.Load(), int64(fds)), maxFDs)
	}
	if n := tooMany.Load(); n > 0 {
		t.Errorf("the sidecar ran out of descriptors %d times", n)
	}
}

// openFDs counts the descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// rss is process pid's resident set size as /proc shows it.
func rss(t *testing.T, pid int) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}
