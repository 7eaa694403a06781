package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// serviceUpstream verifies every request with the package signer's
// verifier, for its service in us-east-1, then with check: what the service
// itself demands of X-Amz-Content-Sha256, written here from its
// documentation rather than from the payload table. A request that fails
// either gets 403 with the reason.
type serviceUpstream struct {
	*httptest.Server
	service  string
	hashBody bool
	check    func(r *http.Request, signed []string) error
	// read, when set, reads the body instead of the handler.
	read func(r *http.Request) ([]byte, error)

	mu  sync.Mutex
	got []serviceRequest
}

type serviceRequest struct {
	header        http.Header
	signed        []string
	body          []byte
	contentLength int64
	err           error
}

func newServiceUpstream(t *testing.T, service string, hashBody bool, check func(r *http.Request, signed []string) error) *serviceUpstream {
	u := &serviceUpstream{service: service, hashBody: hashBody, check: check}
	u.Server = httptest.NewServer(http.HandlerFunc(u.handle))
	t.Cleanup(u.Close)
	return u
}

func (u *serviceUpstream) handle(w http.ResponseWriter, r *http.Request) {
	got := serviceRequest{header: r.Header.Clone(), contentLength: r.ContentLength}
	got.err = func() error {
		lookup := func(id string) (signer.Credentials, bool) {
			return signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken}, id == testKeyID
		}
		res, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: u.service, Region: "us-east-1", HashBody: u.hashBody})
		if err != nil {
			return err
		}
		got.signed = strings.Split(res.SignedHeaders, ";")
		if err := u.check(r, got.signed); err != nil {
			return err
		}
		read := u.read
		if read == nil {
			read = func(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }
		}
		got.body, err = read(r)
		return err
	}()
	u.mu.Lock()
	u.got = append(u.got, got)
	u.mu.Unlock()
	if got.err != nil {
		http.Error(w, got.err.Error(), http.StatusForbidden)
		return
	}
	fmt.Fprintf(w, "ok %d", len(got.body))
}

func (u *serviceUpstream) last(t *testing.T) serviceRequest {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.got[len(u.got)-1]
}

// requireSignedContentSHA256 fails unless X-Amz-Content-Sha256 is present,
// signed and, when want is not empty, equal to it.
func requireSignedContentSHA256(r *http.Request, signed []string, want string) error {
	got := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case got == "":
		return errors.New("no X-Amz-Content-Sha256")
	case !slices.Contains(signed, "x-amz-content-sha256"):
		return errors.New("X-Amz-Content-Sha256 is not signed")
	case want != "" && got != want:
		return fmt.Errorf("X-Amz-Content-Sha256 %q, want %q", got, want)
	}
	return nil
}

// hostModeProxy is a host-mode proxy that dials every host at up.
func hostModeProxy(t *testing.T, up *httptest.Server, edit func(*Config)) (*httptest.Server, *logBuffer) {
	t.Helper()
	cfg := testConfig()
	cfg.ConnectTo = []string{"*:=http://" + up.Listener.Addr().String()}
	if edit != nil {
		edit(&cfg)
	}
	return startProxy(t, cfg, newStaticSource())
}

func sendVia(t *testing.T, proxy *httptest.Server, method, host, path string, body io.Reader, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, proxy.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// OpenSearch Serverless denies a signed request without
// X-Amz-Content-Sha256; before the payload table the proxy sent it for the
// S3 family only.
func TestAossRequestsCarrySignedContentSHA256(t *testing.T) {
	up := newServiceUpstream(t, "aoss", true, func(r *http.Request, signed []string) error {
		if r.Header.Get("X-Amz-Content-Sha256") == signer.UnsignedPayload {
			return errors.New("aoss documents no UNSIGNED-PAYLOAD")
		}
		// HashBody has checked that a hex value is the body's hash.
		return requireSignedContentSHA256(r, signed, "")
	})
	proxy, _ := hostModeProxy(t, up.Server, nil)
	const host = "abc123def456ghi789.us-east-1.aoss.amazonaws.com"
	doc := []byte(`{"query":{"match":{"title":"sidecar"}}}`)
	if status, body := sendVia(t, proxy, http.MethodPost, host, "/movies/_search", bytes.NewReader(doc), http.Header{"Content-Type": {"application/json"}}); status != http.StatusOK {
		t.Fatalf("POST with a body: %d %s", status, body)
	}
	if got := up.last(t); got.header.Get("X-Amz-Content-Sha256") != sha256Hex(doc) || !bytes.Equal(got.body, doc) {
		t.Errorf("POST: X-Amz-Content-Sha256 %q, body %q; want the body's hash and the body", got.header.Get("X-Amz-Content-Sha256"), got.body)
	}
	if status, body := sendVia(t, proxy, http.MethodGet, host, "/movies/_doc/1", nil, nil); status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	if got := up.last(t).header.Get("X-Amz-Content-Sha256"); got != signer.EmptyPayloadHash {
		t.Errorf("GET: X-Amz-Content-Sha256 %q, want the empty body's hash", got)
	}
}

// VPC Lattice does not support payload signing: it wants
// X-Amz-Content-Sha256: UNSIGNED-PAYLOAD, signed. Before the payload table
// the proxy hashed the body, holding all of it back first.
func TestVPCLatticeBodiesStreamUnsigned(t *testing.T) {
	first, rest := []byte(strings.Repeat("a", 1000)), []byte(strings.Repeat("b", 300_000))
	firstArrived := make(chan struct{})
	up := newServiceUpstream(t, "vpc-lattice-svcs", false, func(r *http.Request, signed []string) error {
		return requireSignedContentSHA256(r, signed, signer.UnsignedPayload)
	})
	up.read = func(r *http.Request) ([]byte, error) {
		if r.Method == http.MethodGet {
			return io.ReadAll(r.Body)
		}
		head := make([]byte, len(first))
		if _, err := io.ReadFull(r.Body, head); err != nil {
			return nil, err
		}
		close(firstArrived)
		tail, err := io.ReadAll(r.Body)
		return append(head, tail...), err
	}
	proxy, _ := hostModeProxy(t, up.Server, nil)

	pr, pw := io.Pipe()
	go func() {
		pw.Write(first)
		select {
		case <-firstArrived:
		case <-time.After(20 * time.Second):
			t.Error("the upstream had not received the body's first bytes while the client held back the rest: the proxy did not stream it")
		}
		pw.Write(rest)
		pw.Close()
	}()
	status, body := sendVia(t, proxy, http.MethodPost, "data-svc-022f67d3a42.1234abc.vpc-lattice-svcs.us-east-1.on.aws", "/orders", pr, nil)
	if status != http.StatusOK {
		t.Fatalf("POST: %d %s", status, body)
	}
	got := up.last(t)
	if len(got.body) != len(first)+len(rest) || !bytes.Equal(got.body[:len(first)], first) {
		t.Errorf("the upstream received %d bytes, want the client's %d", len(got.body), len(first)+len(rest))
	}
	if got.contentLength != -1 {
		t.Errorf("Content-Length %d upstream: a body of unknown length should stream as it came", got.contentLength)
	}
	// Without a body too: the upstream asks for UNSIGNED-PAYLOAD.
	if status, body := sendVia(t, proxy, http.MethodGet, "data-svc-022f67d3a42.1234abc.vpc-lattice-svcs.us-east-1.on.aws", "/orders/1", nil, nil); status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
}

// --content-sha256 always: CloudFront origin access control needs the
// body's hash in X-Amz-Content-Sha256 on PUT and POST to a Lambda function
// URL; the default leaves services outside the payload table as they were.
func TestContentSHA256AlwaysSignsTheBodyHash(t *testing.T) {
	var mu sync.Mutex
	var always bool
	up := newServiceUpstream(t, "lambda", true, func(r *http.Request, signed []string) error {
		mu.Lock()
		defer mu.Unlock()
		if !always {
			if r.Header.Get("X-Amz-Content-Sha256") != "" {
				return errors.New("X-Amz-Content-Sha256 sent without --content-sha256 always")
			}
			return nil
		}
		return requireSignedContentSHA256(r, signed, "")
	})
	const host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
	payload := []byte(`{"order":42}`)
	for _, mode := range []string{ContentSHA256Auto, ContentSHA256Always} {
		mu.Lock()
		always = mode == ContentSHA256Always
		mu.Unlock()
		proxy, _ := hostModeProxy(t, up.Server, func(c *Config) { c.ContentSHA256 = mode })
		for _, method := range []string{http.MethodPut, http.MethodPost} {
			if status, body := sendVia(t, proxy, method, host, "/orders", bytes.NewReader(payload), nil); status != http.StatusOK {
				t.Fatalf("--content-sha256 %s, %s: %d %s", mode, method, status, body)
			}
			want := ""
			if mode == ContentSHA256Always {
				want = sha256Hex(payload)
			}
			if got := up.last(t).header.Get("X-Amz-Content-Sha256"); got != want {
				t.Errorf("--content-sha256 %s, %s: X-Amz-Content-Sha256 %q, want %q", mode, method, got, want)
			}
		}
	}
}

func TestContentSHA256OptionIsChecked(t *testing.T) {
	cfg := testConfig()
	cfg.ContentSHA256 = "sometimes"
	err := cfg.Validate()
	if err == nil || err.Error() != `invalid --content-sha256 "sometimes": must be auto or always` {
		t.Fatalf("Validate: %v", err)
	}
}

// A client's aws-chunked body to a service whose row takes none is refused
// before anything is sent, rather than rejected by the service.
func TestClientAWSChunkedRefusedWhereTheRowTakesNone(t *testing.T) {
	up := newServiceUpstream(t, "aoss", true, func(*http.Request, []string) error { return nil })
	proxy, _ := hostModeProxy(t, up.Server, nil)
	body := "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
	status, resp := sendVia(t, proxy, http.MethodPut, "abc123def456ghi789.us-east-1.aoss.amazonaws.com", "/idx/_doc/1", strings.NewReader(body), http.Header{
		"Content-Encoding": {"aws-chunked"}, "X-Amz-Content-Sha256": {signer.StreamingUnsignedPayloadTrailer},
		"X-Amz-Decoded-Content-Length": {"5"}, "X-Amz-Trailer": {"x-amz-checksum-crc32"},
	})
	if status != http.StatusBadRequest || !strings.Contains(resp, "aoss takes no aws-chunked body") {
		t.Errorf("%d %s, want 400 saying aoss takes no aws-chunked body", status, resp)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.got) != 0 {
		t.Errorf("the upstream received %d requests", len(up.got))
	}
}

// PayloadMode follows the payload table for the services it lists, and
// gives every other service what it always did.
func TestPayloadModeFollowsTheTable(t *testing.T) {
	big := int64(16 << 20)
	for _, c := range []struct {
		payload, service, url, method string
		length                        int64
		want                          string
	}{
		// The S3 family, as before the table.
		{PayloadAuto, "s3", "https://b.s3.us-east-1.amazonaws.com/k", http.MethodPut, big, PayloadUnsigned},
		{PayloadAuto, "s3express", "https://b--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com/k", http.MethodPut, 10, PayloadUnsigned},
		{PayloadAuto, "s3", "http://b.s3.us-east-1.amazonaws.com/k", http.MethodPut, big, PayloadChunked},
		{PayloadAuto, "s3", "http://b.s3.us-east-1.amazonaws.com/k", http.MethodPut, 10, PayloadSigned},
		{PayloadAuto, "s3", "http://b.s3.us-east-1.amazonaws.com/k?tagging", http.MethodPut, big, PayloadSigned},
		{PayloadChunked, "s3", "https://b.s3.us-east-1.amazonaws.com/k?partNumber=1&uploadId=x", http.MethodPut, 10, PayloadChunked},
		{PayloadChunked, "s3", "https://b.s3.us-east-1.amazonaws.com/?delete", http.MethodPost, 10, PayloadSigned},
		// aoss: a hash, never aws-chunked.
		{PayloadAuto, "aoss", "https://c.us-east-1.aoss.amazonaws.com/i/_doc/1", http.MethodPut, big, PayloadSigned},
		{PayloadChunked, "aoss", "https://c.us-east-1.aoss.amazonaws.com/i/_doc/1", http.MethodPut, big, PayloadSigned},
		{PayloadUnsigned, "aoss", "https://c.us-east-1.aoss.amazonaws.com/i/_doc/1", http.MethodPut, 10, PayloadUnsigned},
		// vpc-lattice-svcs: UNSIGNED-PAYLOAD over http too, never aws-chunked.
		{PayloadAuto, "vpc-lattice-svcs", "http://svc.abc.vpc-lattice-svcs.us-east-1.on.aws/x", http.MethodPost, 10, PayloadUnsigned},
		{PayloadAuto, "vpc-lattice-svcs", "https://svc.abc.vpc-lattice-svcs.us-east-1.on.aws/x", http.MethodPut, big, PayloadUnsigned},
		{PayloadChunked, "vpc-lattice-svcs", "https://svc.abc.vpc-lattice-svcs.us-east-1.on.aws/x", http.MethodPut, big, PayloadUnsigned},
		{PayloadSigned, "vpc-lattice-svcs", "https://svc.abc.vpc-lattice-svcs.us-east-1.on.aws/x", http.MethodPost, 10, PayloadSigned},
		// Not in the table: as before.
		{PayloadAuto, "execute-api", "https://a.execute-api.us-east-1.amazonaws.com/p", http.MethodPut, big, PayloadSigned},
		{PayloadChunked, "execute-api", "https://a.execute-api.us-east-1.amazonaws.com/p", http.MethodPut, 10, PayloadChunked},
		{PayloadUnsigned, "lambda", "https://u.lambda-url.us-east-1.on.aws/", http.MethodPost, 10, PayloadUnsigned},
	} {
		cfg := testConfig()
		cfg.Payload = c.payload
		req := httptest.NewRequest(c.method, c.url, nil)
		req.ContentLength = c.length
		if got := cfg.PayloadMode(req, c.service); got != c.want {
			t.Errorf("--payload %s, %s %s %s (%d bytes): %s, want %s", c.payload, c.service, c.method, c.url, c.length, got, c.want)
		}
	}
}

func TestSendsContentSHA256(t *testing.T) {
	for _, c := range []struct {
		option, service, hash string
		want                  bool
	}{
		{ContentSHA256Auto, "s3", signer.EmptyPayloadHash, true},
		{ContentSHA256Auto, "s3-outposts", sha256Hex([]byte("x")), true},
		{ContentSHA256Auto, "aoss", signer.EmptyPayloadHash, true},
		{ContentSHA256Auto, "vpc-lattice-svcs", signer.UnsignedPayload, true},
		{ContentSHA256Auto, "execute-api", sha256Hex([]byte("x")), false},
		{ContentSHA256Auto, "execute-api", signer.UnsignedPayload, true},
		{ContentSHA256Auto, "execute-api", signer.StreamingUnsignedPayloadTrailer, true},
		{ContentSHA256Always, "execute-api", signer.EmptyPayloadHash, true},
		{ContentSHA256Always, "lambda", sha256Hex([]byte("x")), true},
	} {
		cfg := testConfig()
		cfg.ContentSHA256 = c.option
		if got := cfg.SendsContentSHA256(c.service, c.hash); got != c.want {
			t.Errorf("--content-sha256 %s, %s, hash %s: %v, want %v", c.option, c.service, c.hash, got, c.want)
		}
	}
}
