package sidecar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// versitygwSignatureError renders a SignatureDoesNotMatch body the way
// versitygw's s3err does (newlines as &#xA;, the byte dumps, request ids).
func versitygwSignatureError(canonical, stringToSign string) string {
	esc := func(s string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\n", "&#xA;").Replace(s)
	}
	hexBytes := func(s string) string {
		parts := make([]string, len(s))
		for i := range len(s) {
			parts[i] = fmt.Sprintf("%02x", s[i])
		}
		return strings.Join(parts, " ")
	}
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>` +
		`<AWSAccessKeyId>` + testKeyID + `</AWSAccessKeyId><StringToSign>` + esc(stringToSign) + `</StringToSign>` +
		`<SignatureProvided>0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef</SignatureProvided>` +
		`<StringToSignBytes>` + hexBytes(stringToSign) + `</StringToSignBytes>` +
		`<CanonicalRequest>` + esc(canonical) + `</CanonicalRequest><CanonicalRequestBytes>` + hexBytes(canonical) + `</CanonicalRequestBytes>` +
		`<RequestId>17F2A7C1D4E5B6A8</RequestId><HostId>dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8</HostId></Error>`
}

// rejectingUpstream answers every request with a versitygw-style
// SignatureDoesNotMatch whose canonical request has the query altered, as
// a server that canonicalizes the query differently would. It returns the
// bodies it sent.
func rejectingUpstream(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := signer.New(nil).Recompute(r, "")
		if err != nil {
			t.Errorf("upstream: %v", err)
		}
		theirs := strings.Replace(res.CanonicalRequest, "prefix=a", "prefix=a%2F", 1)
		body := versitygwSignatureError(theirs, res.StringToSign+"0")
		mu.Lock()
		sent = append(sent, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), sent...) }
}

// startWatchedProxy is startProxy that also returns the Proxy.
func startWatchedProxy(t *testing.T, cfg Config) (*Proxy, *httptest.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	p, err := New(cfg, newStaticSource(), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
		for _, secret := range []string{testSecret, testToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log:\n%s", logs.String())
			}
		}
	})
	return p, srv, logs
}

// waitFor polls cond: the diagnosis runs when the proxy reads the end of
// the error body, which may be just after the client has it all.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); { // generous: the machine may be loaded
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func diagnosisLines(logs string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), "upstream rejected the signature") {
			out = append(out, m)
		}
	}
	return out
}

func TestSignatureRejectionDiagnosedWithVersitygwDiff(t *testing.T) {
	up, sent := rejectingUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	p, srv, logs := startWatchedProxy(t, cfg)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var clockMu sync.Mutex
	p.watcher.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	var hookMu sync.Mutex
	var hooked []string
	p.OnSignatureRejected(func(awsCode, cause string) {
		hookMu.Lock()
		defer hookMu.Unlock()
		hooked = append(hooked, awsCode+" "+cause)
	})

	get := func() {
		resp, err := http.Get(srv.URL + "/bucket?list-type=2&prefix=a")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		all := sent()
		if resp.StatusCode != http.StatusForbidden || string(body) != all[len(all)-1] {
			t.Fatalf("client got %d %q, not the upstream's answer untouched", resp.StatusCode, body)
		}
	}
	rejections := func() uint64 { return p.SignatureRejections()[string(diagnose.CodeQueryDiffers)] }

	get()
	get()
	waitFor(t, "two rejections counted", func() bool { return rejections() == 2 })
	lines := diagnosisLines(logs.String())
	if len(lines) != 1 {
		t.Fatalf("%d diagnosis lines for two identical rejections within a minute, want 1:\n%s", len(lines), logs.String())
	}
	l := lines[0]
	if l["aws_code"] != "SignatureDoesNotMatch" || l["causes"] != "canonical-query-differs" || l["first_difference"] != "query" {
		t.Errorf("diagnosis line %v", l)
	}
	diff, _ := l["canonical_request_diff"].(string)
	if !strings.Contains(diff, "- list-type=2&prefix=a%2F\n+ list-type=2&prefix=a\n") {
		t.Errorf("diff:\n%s", diff)
	}
	if ours, _ := l["canonical_request"].(string); !strings.HasPrefix(ours, "GET\n/bucket\nlist-type=2&prefix=a\n") || !strings.Contains(ours, "x-amz-security-token:<redacted ") {
		t.Errorf("our canonical request:\n%s", ours)
	}
	hookMu.Lock()
	if len(hooked) != 2 || hooked[0] != "SignatureDoesNotMatch canonical-query-differs" {
		t.Errorf("hook saw %q", hooked)
	}
	hookMu.Unlock()

	// A minute later the same cause is logged again.
	clockMu.Lock()
	clock = clock.Add(diagnosisLogEvery + time.Second)
	clockMu.Unlock()
	get()
	waitFor(t, "a second diagnosis line", func() bool { return len(diagnosisLines(logs.String())) == 2 })
}

// JSON services name the error in X-Amzn-ErrorType; the body is the
// message. The client still gets it byte for byte.
func TestSignatureRejectionFromJSONService(t *testing.T) {
	body := `{"message":"Signature expired: 20150830T123600Z is now earlier than 20150830T124000Z (20150830T125500Z - 15 min.)"}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, body)
	}))
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "lambda", "us-east-1"
	p, srv, logs := startWatchedProxy(t, cfg)
	resp, err := http.Post(srv.URL+"/2015-03-31/functions/f/invocations", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != body {
		t.Fatalf("client got %q", got)
	}
	// The retry layer may try once more after correcting its clock from
	// the answer's Date: each attempt's rejection counts, one line is logged.
	waitFor(t, "the rejection counted", func() bool { return p.SignatureRejections()[string(diagnose.CodeSignatureExpired)] >= 1 })
	lines := diagnosisLines(logs.String())
	if len(lines) != 1 || lines[0]["aws_code"] != "InvalidSignatureException" {
		t.Fatalf("diagnosis lines %v", lines)
	}
}

// Other refusals are not signature problems: not counted, not logged.
func TestOtherErrorsAreNotDiagnosed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	p, srv, logs := startWatchedProxy(t, cfg)
	resp, err := http.Get(srv.URL + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The handler logs the request after the body is done: by then any
	// diagnosis would have been made.
	waitFor(t, "the request log line", func() bool { return strings.Contains(logs.String(), `"status":403`) })
	if n := len(p.SignatureRejections()); n != 0 || len(diagnosisLines(logs.String())) != 0 {
		t.Fatalf("AccessDenied diagnosed as a signature problem: %v\n%s", p.SignatureRejections(), logs.String())
	}
}

// --debug-signing logs the canonical request and string to sign the
// upstream can recompute, with the session token hidden.
func TestDebugSigningLogsCanonicalRequest(t *testing.T) {
	var mu sync.Mutex
	var upstreamSaw signer.Result
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		res, err := signer.New(nil).Recompute(r, sha256Hex(body))
		if err != nil {
			t.Errorf("upstream: %v", err)
		}
		mu.Lock()
		upstreamSaw = res
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region, cfg.DebugSigning = up.URL, "sqs", "eu-west-1", true
	_, srv, logs := startWatchedProxy(t, cfg)
	resp, err := http.Post(srv.URL+"/?Action=ListQueues", "application/x-www-form-urlencoded", strings.NewReader("Version=2012-11-05"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "signed request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no signed-request line:\n%s", logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if line["string_to_sign"] != upstreamSaw.StringToSign {
		t.Errorf("logged string to sign %q, upstream computed %q", line["string_to_sign"], upstreamSaw.StringToSign)
	}
	if line["canonical_request"] != diagnose.RedactCanonicalRequest(upstreamSaw.CanonicalRequest) {
		t.Errorf("logged canonical request\n%v\nupstream computed\n%s", line["canonical_request"], upstreamSaw.CanonicalRequest)
	}
}

func TestPrefixTeeKeepsBoundedPrefixOnce(t *testing.T) {
	var calls int
	var got []byte
	tee := &prefixTee{ReadCloser: io.NopCloser(strings.NewReader("abcdefghij")), limit: 4, done: func(p []byte) { calls++; got = p }}
	all, err := io.ReadAll(tee)
	if err != nil || string(all) != "abcdefghij" {
		t.Fatalf("read %q, %v", all, err)
	}
	tee.Close()
	if calls != 1 || string(got) != "abcd" {
		t.Fatalf("done called %d times with %q", calls, got)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Server hands its OnSignatureRejected to the proxy it builds.
func TestServerPassesSignatureRejectedHook(t *testing.T) {
	up, _ := rejectingUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	calls := make(chan string, 4)
	addr := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Config: cfg, Credentials: newStaticSource(),
		OnSignatureRejected: func(awsCode, cause string) { calls <- awsCode + " " + cause },
		Listening:           func(proxyAddr, _ net.Addr) { addr <- proxyAddr.String() }}
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	resp, err := http.Get("http://" + <-addr + "/bucket?list-type=2&prefix=a")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case got := <-calls:
		if got != "SignatureDoesNotMatch canonical-query-differs" {
			t.Fatalf("hook got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hook not called")
	}
}

// With telemetry on, the admin listener's /metrics counts signature
// rejections by diagnosed cause.
func TestSignatureRejectionsInMetrics(t *testing.T) {
	up, _ := rejectingUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	addrs := make(chan [2]string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Config: cfg, Credentials: newStaticSource(), Log: slog.New(slog.DiscardHandler),
		Telemetry: &telemetry.Options{Getenv: func(string) string { return "" }},
		Listening: func(p, a net.Addr) { addrs <- [2]string{p.String(), a.String()} }}
	go func() { done <- srv.Run(ctx) }()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	resp, err := http.Get("http://" + a[0] + "/bucket?list-type=2&prefix=a")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want the upstream's 403", resp.StatusCode)
	}
	want := map[string]string{"cause": string(diagnose.CodeQueryDiffers)}
	var fam map[string]*dto.MetricFamily
	waitFor(t, "the rejection in /metrics", func() bool {
		fam = scrapeMetrics(t, "http://"+a[1]+"/metrics")
		return fam[telemetry.MetricSignatureRejections] != nil
	})
	if v := counterValue(t, fam, telemetry.MetricSignatureRejections, want); v != 1 {
		t.Errorf("%s%v = %v, want 1", telemetry.MetricSignatureRejections, want, v)
	}
}

// A rejection without a body (a HEAD) names its code only in a header:
// X-Amz-Error-Code is read through the answer's classification, as
// X-Amzn-ErrorType is, and the rejection is diagnosed.
func TestSignatureRejectionNamedInXAmzErrorCode(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Error-Code", "SignatureDoesNotMatch")
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	p, srv, logs := startWatchedProxy(t, cfg)
	resp, err := http.Head(srv.URL + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want the upstream's 403", resp.StatusCode)
	}
	waitFor(t, "the rejection counted", func() bool {
		n := uint64(0)
		for _, c := range p.SignatureRejections() {
			n += c
		}
		return n >= 1
	})
	lines := diagnosisLines(logs.String())
	if len(lines) != 1 || lines[0]["aws_code"] != "SignatureDoesNotMatch" {
		t.Fatalf("diagnosis lines %v", lines)
	}
}

// The other two codes issue 8 names are diagnosed too: IncompleteSignature
// (query APIs, 400) and S3's AuthorizationHeaderMalformed (400), each
// logged with its code and causes while the client gets the body untouched.
func TestSignatureRejectionOtherCodesDiagnosed(t *testing.T) {
	for _, tc := range []struct {
		code, service, causes, body string
	}{
		{"IncompleteSignature", "sqs", "missing-credential", `<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>IncompleteSignature</Code>` +
			`<Message>Authorization header requires 'Credential' parameter.</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`},
		{"AuthorizationHeaderMalformed", "s3", "wrong-region", `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code>` +
			`<Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message>` +
			`<Region>eu-west-1</Region><RequestId>r-2</RequestId></Error>`},
	} {
		t.Run(tc.code, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(up.Close)
			cfg := testConfig()
			cfg.Upstream, cfg.Service, cfg.Region = up.URL, tc.service, "us-east-1"
			p, srv, logs := startWatchedProxy(t, cfg)
			resp, err := http.Get(srv.URL + "/bucket/key")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || string(got) != tc.body {
				t.Fatalf("client got %d %q, want the upstream's 400 untouched", resp.StatusCode, got)
			}
			waitFor(t, "the diagnosis line", func() bool { return len(diagnosisLines(logs.String())) == 1 })
			l := diagnosisLines(logs.String())[0]
			if l["aws_code"] != tc.code || l["causes"] != tc.causes || l["canonical_request"] == nil {
				t.Errorf("diagnosis line %v", l)
			}
			if len(p.SignatureRejections()) == 0 {
				t.Error("the rejection was not counted")
			}
		})
	}
}
