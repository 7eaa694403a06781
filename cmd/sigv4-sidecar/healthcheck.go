package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck probes a running proxy's admin listener: GET /healthz, or
// /readyz with --ready. It exits 0 on 200 and 1 otherwise, which is what an
// exec probe in a distroless image (no curl, no shell) needs. The address
// is --admin-listen / SIGV4_ADMIN_LISTEN, as for serve; an unspecified host
// (0.0.0.0, ::) is probed on loopback.
func runHealthcheck(ctx context.Context, inv invocation) error {
	addr := "127.0.0.1:8081"
	for _, kv := range inv.environ {
		if v, ok := strings.CutPrefix(kv, "SIGV4_ADMIN_LISTEN="); ok && v != "" {
			addr = v
		}
	}
	fs := inv.flags("healthcheck",
		"Usage: sigv4-sidecar healthcheck [--admin-listen ADDR] [--ready] [--timeout 3s]",
		"Probes a running proxy's admin listener: /healthz, or /readyz with --ready; exit 0 when healthy.")
	fs.StringVar(&addr, "admin-listen", addr, "admin address of the proxy to probe (env SIGV4_ADMIN_LISTEN)")
	ready := fs.Bool("ready", false, "probe /readyz (can sign) instead of /healthz (alive)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.parse(inv.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("invalid --admin-listen %q: want host:port", addr)}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %v", url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(inv.stdout, "%s %d %s\n", path, resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return &exitError{code: 1}
	}
	return nil
}
