//go:build linux

package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkListenerGET measures a small GET through the whole Server (the
// real listener) over plain HTTP/1.1, TLS HTTP/1.1 and TLS HTTP/2, on a
// kept-alive connection, and reports the process's CPU time per request
// (cpu-ns/op: the client and the upstream run in this process too, as in
// BenchmarkProxyGET), so that the three can be compared as ratios.
func BenchmarkListenerGET(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer up.Close()
	serverCA := newTestCA(b, "server-ca")
	serving := serverCA.serverCert(b)
	dir := b.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, serving.certPEM, 0o600)
	os.WriteFile(keyFile, serving.keyPEM, 0o600)
	for _, c := range []struct{ name, proto string }{{"plain", "http1"}, {"TLS-HTTP1", "http1"}, {"TLS-HTTP2", "http2"}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := fixedListenerConfig(up.URL)
			cfg.LogLevel = "info"
			scheme, client := "http", &http.Client{Transport: &http.Transport{}}
			if c.name != "plain" {
				cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = certFile, keyFile
				scheme, client = "https", tlsClient(serverCA, c.proto)
			}
			addr, stop := benchServer(b, cfg)
			defer stop()
			defer client.CloseIdleConnections()
			url := scheme + "://" + addr + "/prod/small"
			get := func() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			get() // the handshake is not what is measured
			b.ReportAllocs()
			cpu := processCPU(b)
			b.ResetTimer()
			for b.Loop() {
				get()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchServer runs a Server with cfg, logging nowhere, until stop.
func benchServer(b *testing.B, cfg Config) (addr string, stop func()) {
	ready := make(chan string, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{Config: cfg, Credentials: newStaticSource(), Listening: func(p, _ net.Addr) { ready <- p.String() }}
	go func() { done <- srv.Run(ctx) }()
	select {
	case addr = <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	return addr, func() { cancel(); <-done }
}

// BenchmarkListenerIdleConnsRSS starts the sigv4-sidecar binary, opens 1,000
// client connections to it that each send one small request and then stay
// idle (kept alive), and reports how much the proxy process's resident set
// grew, per connection: over plain HTTP/1.1, TLS HTTP/1.1 and TLS HTTP/2.
// One iteration is the whole measurement; run it with -benchtime 1x.
func BenchmarkListenerIdleConnsRSS(b *testing.B) {
	const conns = 1000
	bin := filepath.Join(b.TempDir(), "sigv4-sidecar")
	build := exec.Command("go", "build", "-o", bin, "github.com/sigv4-sidecar/sigv4-sidecar/cmd/sigv4-sidecar")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer up.Close()
	serverCA := newTestCA(b, "server-ca")
	serving := serverCA.serverCert(b)
	dir := b.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, serving.certPEM, 0o600)
	os.WriteFile(keyFile, serving.keyPEM, 0o600)
	for _, c := range []struct{ name, proto string }{{"plain", "http1"}, {"TLS-HTTP1", "http1"}, {"TLS-HTTP2", "http2"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				args := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "warn",
					"--upstream", up.URL, "--service", "execute-api", "--region", "us-east-1", "--max-procs", "0"}
				newClient := func() *http.Client { return &http.Client{Transport: &http.Transport{}} }
				scheme := "http"
				if c.name != "plain" {
					args = append(args, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
					scheme, newClient = "https", func() *http.Client { return tlsClient(serverCA, c.proto) }
				}
				cmd := exec.Command(bin, args...)
				cmd.Env = []string{"HOME=" + dir, "AWS_ACCESS_KEY_ID=" + testKeyID, "AWS_SECRET_ACCESS_KEY=" + testSecret,
					"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none")}
				stderr, _ := cmd.StderrPipe()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				addr := listeningAddr(b, stderr)
				url := scheme + "://" + addr + "/prod/idle"
				get := func(client *http.Client) {
					resp, err := client.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				warm := newClient()
				get(warm)
				time.Sleep(500 * time.Millisecond)
				before := vmRSS(b, cmd.Process.Pid)
				clients := make([]*http.Client, conns)
				for i := range clients {
					clients[i] = newClient()
					get(clients[i])
				}
				time.Sleep(2 * time.Second) // let the proxy settle with all of them idle
				after := vmRSS(b, cmd.Process.Pid)
				b.ReportMetric(float64(after)/(1<<20), "RSS-MiB")
				b.ReportMetric(float64(after-before)/conns/1024, "KiB/conn")
				for _, c := range clients {
					c.CloseIdleConnections()
				}
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}
		})
	}
}

// listeningAddr reads the binary's log until its "listening" line.
func listeningAddr(b *testing.B, stderr io.Reader) string {
	r := bufio.NewReader(stderr)
	for {
		line, err := r.ReadString('\n')
		var rec struct {
			Msg       string `json:"msg"`
			ProxyAddr string `json:"proxy_addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			go io.Copy(io.Discard, r)
			return rec.ProxyAddr
		}
		if err != nil {
			b.Fatalf("no listening line: %v", err)
		}
	}
}

// vmRSS is a process's resident set size in bytes (/proc/PID/status).
func vmRSS(b *testing.B, pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
