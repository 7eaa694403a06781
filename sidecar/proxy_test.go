package sidecar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// bodyKind is how the client sends its body.
type bodyKind int

const (
	noBody      bodyKind = iota
	knownLength          // Content-Length
	chunkedBody          // Transfer-Encoding: chunked, length unknown
)

func testBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// wantPayload is the payload hash --payload mode gives a body of kind and
// size sent with method to an S3 or other service over http or https, with
// --body-memory of memory. upload is an S3 PutObject (a PUT, no subresource).
func wantPayload(mode string, s3, https bool, kind bodyKind, method string, body []byte, memory int) string {
	if kind == noBody {
		return signer.EmptyPayloadHash
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	upload := method == http.MethodPut
	if mode == PayloadAuto {
		switch {
		case s3 && https:
			mode = PayloadUnsigned
		case s3 && kind == knownLength && len(body) > memory && upload:
			mode = PayloadChunked
		default:
			mode = PayloadSigned
		}
	}
	switch mode {
	case PayloadUnsigned:
		if kind == knownLength || !s3 {
			return signer.UnsignedPayload
		}
		return hash // an S3 body of unknown length is spooled, so hashed
	case PayloadChunked:
		if upload {
			return signer.StreamingPayload
		}
	}
	return hash
}

type routeMode string

const (
	fixedMode    routeMode = "fixed"
	hostMode     routeMode = "host"
	absoluteMode routeMode = "absolute"
)

// TestSignedRoundTrip sends GET, HEAD, DELETE, PUT and POST requests to S3
// and SQS through the proxy in fixed mode, host mode (Host header, via
// --connect-to to a TLS upstream) and absolute-form mode, with every
// --payload mode and bodies of known and unknown length. The upstream
// recomputes every signature with aws-sdk-go-v2's signer.
func TestSignedRoundTrip(t *testing.T) {
	plainUp := newUpstream(t)
	tlsUp, caFile := newTLSUpstream(t)
	tlsAddr := tlsUp.Listener.Addr().String()

	services := []struct {
		name, host, path string
	}{
		{"s3", "s3.us-east-1.amazonaws.com", "/bucket/some/key.txt"},
		{"sqs", "sqs.us-east-1.amazonaws.com", "/123456789012/queue"},
	}
	requests := []struct {
		method string
		kind   bodyKind
		size   int
	}{
		{http.MethodGet, noBody, 0},
		{http.MethodHead, noBody, 0},
		{http.MethodDelete, noBody, 0},
		{http.MethodPut, knownLength, 1000},
		{http.MethodPut, knownLength, 200000},
		{http.MethodPost, chunkedBody, 70000},
		{http.MethodPut, chunkedBody, 100},
		{http.MethodPost, knownLength, 200000},
	}
	const bodyMemory = 100 << 10
	for _, rm := range []routeMode{fixedMode, hostMode, absoluteMode} {
		for _, mode := range []string{PayloadAuto, PayloadSigned, PayloadUnsigned, PayloadChunked} {
			for _, svc := range services {
				cfg := testConfig()
				cfg.Payload = mode
				cfg.BodyMemory = bodyMemory
				var up *verifyingUpstream
				switch rm {
				case fixedMode:
					up = plainUp
					cfg.Upstream = plainUp.URL + "/base"
					cfg.Service, cfg.Region = svc.name, "us-east-1"
				default:
					up = tlsUp
					cfg.UpstreamCAFile = caFile
					cfg.ConnectTo = []string{"*.amazonaws.com:443=" + tlsAddr}
				}
				proxy, logs := startProxy(t, cfg, newStaticSource())
				for _, rq := range requests {
					name := fmt.Sprintf("%s/%s/%s/%s/%s-%d", rm, mode, svc.name, rq.method, []string{"none", "known", "chunked"}[rq.kind], rq.size)
					t.Run(name, func(t *testing.T) {
						body := testBody(rq.size)
						var reqBody io.Reader
						switch rq.kind {
						case knownLength:
							reqBody = bytes.NewReader(body)
						case chunkedBody:
							reqBody = io.MultiReader(bytes.NewReader(body)) // hides the length
						}
						// A query on body-less requests; an S3 PUT with one
						// would not be an object upload.
						query := ""
						if rq.kind == noBody {
							query = "list-type=2&prefix=a%2Fb"
						}
						client := http.DefaultClient
						var target string
						switch rm {
						case fixedMode, hostMode:
							target = proxy.URL + svc.path + "?" + query
						case absoluteMode:
							proxyURL, _ := url.Parse(proxy.URL)
							client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
							target = "http://" + svc.host + svc.path + "?" + query
						}
						req, err := http.NewRequest(rq.method, target, reqBody)
						if err != nil {
							t.Fatal(err)
						}
						if rm == hostMode {
							req.Host = svc.host
						}
						req.Header.Set("X-Custom", "kept and signed")
						req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=CLIENTS/OWN, SignedHeaders=host, Signature=00")
						req.Header.Set("X-Amz-Date", "20000101T000000Z")
						before := up.count()
						resp, err := client.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						respBody, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							t.Fatalf("status %d: %s\nlogs:\n%s", resp.StatusCode, respBody, logs)
						}
						if up.count() != before+1 {
							t.Fatalf("upstream got %d requests, want 1", up.count()-before)
						}
						got := up.last(t)
						if got.VerifyErr != nil {
							t.Fatalf("signature check: %v", got.VerifyErr)
						}
						wantPath := svc.path
						if rm == fixedMode {
							wantPath = "/base" + svc.path
						}
						if got.Path != wantPath || got.RawQuery != query {
							t.Errorf("upstream got %s?%s, want %s?%s", got.Path, got.RawQuery, wantPath, query)
						}
						if rm != fixedMode && got.ProtoMajor != 2 {
							t.Errorf("upstream spoke HTTP/%d over TLS, want HTTP/2", got.ProtoMajor)
						}
						if rm != fixedMode && got.Host != svc.host {
							t.Errorf("upstream Host %q, want %q", got.Host, svc.host)
						}
						if got.Service != svc.name || got.Region != "us-east-1" {
							t.Errorf("scope %s/%s, want %s/us-east-1", got.Service, got.Region, svc.name)
						}
						if !bytes.Equal(got.Body, body) {
							t.Errorf("upstream body %d bytes, want %d", len(got.Body), len(body))
						}
						if got.Header.Get("X-Custom") != "kept and signed" || !strings.Contains(got.Header.Get("Authorization"), "x-custom") {
							t.Errorf("X-Custom not forwarded and signed: %q", got.Header.Get("Authorization"))
						}
						if len(got.TransferEncoding) != 0 && isS3(svc.name) {
							t.Errorf("S3 got Transfer-Encoding %v; S3 rejects chunked bodies", got.TransferEncoding)
						}
						want := wantPayload(mode, isS3(svc.name), rm != fixedMode, rq.kind, rq.method, body, bodyMemory)
						if got.PayloadHash != want {
							t.Errorf("payload hash %s, want %s", got.PayloadHash, want)
						}
						if want == signer.StreamingPayload && got.Chunks < 2 {
							t.Errorf("aws-chunked body had %d chunks", got.Chunks)
						}
						if rq.method != http.MethodHead {
							if wantBody := "ok:" + rq.method + ":" + wantPath; string(respBody) != wantBody {
								t.Errorf("client got %q, want %q", respBody, wantBody)
							}
						}
						if resp.Header.Get("X-Amz-Request-Id") != "REQ123" {
							t.Errorf("response headers not passed through: %v", resp.Header)
						}
					})
				}
			}
		}
	}
}

// TestErrorsAreJSONWithHeader checks the shape every proxy error has.
func TestErrorsAreJSONWithHeader(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	proxy, _ := startProxy(t, cfg, newStaticSource())
	resp := getViaHost(t, proxy.URL+"/", "example.com")
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || body.Code != CodeHostNotAllowed || resp.Header.Get(ErrorHeader) != CodeHostNotAllowed {
		t.Errorf("got %d %q (header %q), want 403 %s", resp.StatusCode, body.Code, resp.Header.Get(ErrorHeader), CodeHostNotAllowed)
	}
	if !strings.Contains(body.Message, "--allow-hosts") || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("message %q should name --allow-hosts; content type %q", body.Message, resp.Header.Get("Content-Type"))
	}
	if up.count() != 0 {
		t.Errorf("upstream got %d requests", up.count())
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// TestVerifierRejectsTampering proves the test upstream's check can fail: a
// request signed by the signer passes, the same request with a signed header
// changed after signing does not.
func TestVerifierRejectsTampering(t *testing.T) {
	up := newUpstream(t)
	send := func(tamper bool) received {
		req, _ := http.NewRequest(http.MethodPut, up.URL+"/bucket/key", strings.NewReader("hello"))
		req.Header.Set("X-Custom", "v")
		sum := sha256.Sum256([]byte("hello"))
		_, err := signer.New(nil).Sign(req, signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken},
			signer.Options{Service: "s3", Region: "us-east-1", Time: time.Now(), PayloadHash: hex.EncodeToString(sum[:]), SetContentSHA256: true})
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			req.Header.Set("X-Custom", "changed")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return up.last(t)
	}
	if got := send(false); got.VerifyErr != nil {
		t.Fatalf("untampered request rejected: %v", got.VerifyErr)
	}
	if got := send(true); got.VerifyErr == nil {
		t.Fatal("tampered request accepted")
	}
}

// TestConnectToPlainHTTP points every AWS host at a plain-HTTP emulator, as
// a user does with LocalStack or MinIO: the Host signed and sent is the name
// the client used, without the :443 the rule matched on.
func TestConnectToPlainHTTP(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.ConnectTo = []string{"*.amazonaws.com:=http://" + up.Listener.Addr().String()}
	cfg.BodyMemory = 1 << 10
	proxy, _ := startProxy(t, cfg, newStaticSource())
	emulated := strings.Repeat("emulated", 1000)
	req, _ := http.NewRequest(http.MethodPut, proxy.URL+"/bucket/key", strings.NewReader(emulated))
	req.Host = "s3.us-east-1.amazonaws.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := up.last(t)
	if resp.StatusCode != 200 || got.VerifyErr != nil || got.Host != "s3.us-east-1.amazonaws.com" || string(got.Body) != emulated {
		t.Fatalf("status %d, upstream Host %q body %q: %v", resp.StatusCode, got.Host, got.Body, got.VerifyErr)
	}
	if got.PayloadHash != signer.StreamingPayload {
		t.Errorf("a large S3 upload over plain HTTP signed with %s, want aws-chunked", got.PayloadHash)
	}
}

func TestIsObjectUpload(t *testing.T) {
	for target, want := range map[string]bool{
		"PUT /b/k": true, "PUT /b/k?partNumber=1&uploadId=x": true, "PUT /b/k?x-id=PutObject": true,
		"PUT /b/k?tagging": false, "PUT /b/k?acl": false, "POST /b/k?uploadId=x": false, "POST /b?delete": false, "GET /b/k": false,
	} {
		method, rest, _ := strings.Cut(target, " ")
		req := httptest.NewRequest(method, rest, nil)
		if got := isObjectUpload(req); got != want {
			t.Errorf("isObjectUpload(%s) = %v, want %v", target, got, want)
		}
	}
}
