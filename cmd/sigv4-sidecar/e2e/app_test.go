//go:build e2e

package e2e

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// app is the client an application would be: plain net/http to the proxy on
// loopback, no AWS SDK, no signing. It addresses S3 in one of the
// addressingModes.
type app struct {
	mode   string // one of addressingModes
	server string // the server's name, for what differs between servers
	proxy  *sidecar
	client *http.Client
}

// Addressing modes and the sidecar arguments each needs.
const (
	// fixedMode: --upstream points at the server; path-style URLs.
	fixedMode = "fixed"
	// hostPathMode: host mode, Host header s3Domain, path-style URLs.
	hostPathMode = "host-path"
	// hostVirtualMode: host mode, absolute-form requests (the proxy as an
	// HTTP proxy) to virtual-hosted bucket names BUCKET.s3Domain.
	hostVirtualMode = "host-virtual"
	// hostVirtualHTTPMode is hostVirtualMode with one glob --connect-to rule
	// to the server's plain-http port (http:// on its right side), so that
	// host mode is also exercised without TLS, where auto payload signing
	// differs (no UNSIGNED-PAYLOAD over plain http).
	hostVirtualHTTPMode = "host-virtual-http"
)

var addressingModes = []string{fixedMode, hostPathMode, hostVirtualMode, hostVirtualHTTPMode}

// sidecarArgs are the arguments that point a sidecar at s in mode; buckets
// are the virtual-hosted bucket names host mode must route.
func sidecarArgs(s *server, mode string, buckets ...string) []string {
	if mode == fixedMode {
		return []string{"--upstream", s.endpoint, "--region", region, "--service", "s3"}
	}
	if mode == hostVirtualHTTPMode {
		addr := strings.TrimPrefix(s.endpoint, "http://")
		return []string{"--connect-to", s3Domain + ":=http://" + addr, "--connect-to", "*." + s3Domain + ":=http://" + addr}
	}
	args := []string{"--upstream-ca-file", front.caFile, "--connect-to", s3Domain + ":443=" + s.tlsAddr}
	for _, b := range buckets {
		args = append(args, "--connect-to", b+"."+s3Domain+":443="+s.tlsAddr)
	}
	return args
}

func newApp(proxy *sidecar, mode string) *app {
	tr := &http.Transport{
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
		// Never the environment's proxy: loopback only.
		Proxy: nil,
	}
	if mode == hostVirtualMode || mode == hostVirtualHTTPMode {
		u, _ := url.Parse(proxy.url())
		tr.Proxy = http.ProxyURL(u)
	}
	return &app{mode: mode, proxy: proxy, client: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
}

// s3Escape percent-encodes an object key for a URL path the way S3 clients
// do: every byte but the unreserved characters and '/'.
func s3Escape(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// request builds a request for bucket and key ("" for the bucket itself)
// with rawQuery as given.
func (a *app) request(t testing.TB, method, bucket, key, rawQuery string, body io.Reader) *http.Request {
	t.Helper()
	req, err := a.newRequest(method, bucket, key, rawQuery, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// newRequest is request for goroutines that cannot stop the test.
func (a *app) newRequest(method, bucket, key, rawQuery string, body io.Reader) (*http.Request, error) {
	var target, host string
	switch a.mode {
	case fixedMode:
		target = a.proxy.url() + "/" + bucket
	case hostPathMode:
		target, host = a.proxy.url()+"/"+bucket, s3Domain
	case hostVirtualMode, hostVirtualHTTPMode:
		target = "http://" + bucket + "." + s3Domain
	}
	if key != "" || a.mode == hostVirtualMode || a.mode == hostVirtualHTTPMode {
		target += "/" + s3Escape(key)
	}
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	if host != "" {
		req.Host = host
	}
	return req, nil
}

// do sends req and returns the response with its body read.
func (a *app) do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

// expect sends req and fails the test unless the status is want.
func (a *app) expect(t testing.TB, req *http.Request, want int) (*http.Response, []byte) {
	t.Helper()
	resp, body := a.do(t, req)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; X-Sigv4-Sidecar-Error %q; body:\n%s",
			req.Method, req.URL, resp.StatusCode, want, resp.Header.Get("X-Sigv4-Sidecar-Error"), body)
	}
	return resp, body
}

// s3Error is the XML error body S3 servers send.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func parseS3Error(body []byte) (s3Error, error) {
	var e s3Error
	err := xml.Unmarshal(body, &e)
	return e, err
}
