package sidecar

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// wireRequest is one request as a raw-TCP upstream read it off the socket:
// the request line's target byte for byte, the header block as sent, and
// what the project's SigV4 verifier made of the signature.
type wireRequest struct {
	Method, Target string
	Header         http.Header // as parsed from the raw block
	RawHeader      string      // the header block, request line excluded
	Body           []byte
	VerifyErr      error
}

// Path and Query split Target at its first '?'.
func (w wireRequest) Path() string {
	p, _, _ := strings.Cut(w.Target, "?")
	return p
}

func (w wireRequest) Query() string {
	_, q, _ := strings.Cut(w.Target, "?")
	return q
}

// wireRecorder is an upstream that reads requests off raw TCP, so that what
// it records is what went on the wire and not what a Go server parsed it
// into. It checks each signature with signer.Verify against the URL built
// from the exact target bytes, and answers 200 with an empty body.
type wireRecorder struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []wireRequest
	wg   sync.WaitGroup
	done chan struct{}
}

func newWireRecorder(t testing.TB) *wireRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireRecorder{ln: ln, done: make(chan struct{})}
	w.wg.Add(1)
	go w.accept()
	t.Cleanup(w.close)
	return w
}

func (w *wireRecorder) URL() string { return "http://" + w.ln.Addr().String() }

func (w *wireRecorder) close() {
	close(w.done)
	w.ln.Close()
	w.wg.Wait()
}

func (w *wireRecorder) accept() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer c.Close()
			go func() { <-w.done; c.Close() }()
			br := bufio.NewReader(c)
			for {
				req, ok := w.readOne(br)
				if !ok {
					return
				}
				w.mu.Lock()
				w.got = append(w.got, req)
				w.mu.Unlock()
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
					return
				}
			}
		}()
	}
}

// readOne reads one request: the raw head, then its body by the framing
// net/http's own parser finds in that head.
func (w *wireRecorder) readOne(br *bufio.Reader) (wireRequest, bool) {
	var head bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return wireRequest{}, false
		}
		head.WriteString(line)
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	first, rest, _ := strings.Cut(head.String(), "\r\n")
	parts := strings.SplitN(first, " ", 3)
	if len(parts) != 3 {
		return wireRequest{}, false
	}
	rec := wireRequest{Method: parts[0], Target: parts[1], RawHeader: rest}
	req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(head.Bytes()), br)))
	if err != nil {
		rec.VerifyErr = err
		return rec, false
	}
	rec.Header = req.Header
	rec.Body, err = io.ReadAll(req.Body)
	if err != nil {
		return rec, false
	}
	req.Body = io.NopCloser(bytes.NewReader(rec.Body))
	req.URL = wireURL(rec.Path(), rec.Query())
	_, rec.VerifyErr = signer.New(nil).Verify(req, func(id string) (signer.Credentials, bool) {
		if id != testKeyID {
			return signer.Credentials{}, false
		}
		return signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken}, true
	}, signer.VerifyOptions{Now: time.Now(), HashBody: true})
	return rec, true
}

// wireURL is the URL a verifying server reads from a request target: the
// path exactly as it came (as Opaque, which the signer reads as the wire
// path), or as Path and RawPath when it begins with "//".
func wireURL(path, query string) *url.URL {
	u := &url.URL{RawQuery: query}
	if strings.HasPrefix(path, "//") {
		u.Path, _ = url.PathUnescape(path)
		u.RawPath = path
	} else {
		u.Opaque = path
	}
	return u
}

func (w *wireRecorder) all() []wireRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wireRequest(nil), w.got...)
}

func (w *wireRecorder) last(t testing.TB) wireRequest {
	t.Helper()
	got := w.all()
	if len(got) == 0 {
		t.Fatal("upstream received no request")
	}
	return got[len(got)-1]
}

// fixedProxyToWire starts a fixed-mode proxy for service in front of rec,
// with base path base ("" for none), and returns its host:port.
func fixedProxyToWire(t testing.TB, rec *wireRecorder, base, service string) string {
	t.Helper()
	cfg := testConfig()
	cfg.Upstream = rec.URL() + base
	cfg.Service, cfg.Region = service, "us-east-1"
	cfg.LogLevel = "warn"
	srv := serveProxy(t, cfg, newStaticSource(), &logBuffer{}, slog.LevelWarn)
	return strings.TrimPrefix(srv.URL, "http://")
}

// sendRaw writes a request with the raw target and extra header lines to
// addr and returns the status and the proxy's error code, if any.
func sendRaw(t testing.TB, addr, method, target string, headers ...string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: app.internal\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %q: reading the response: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Code, Message string }
	_ = json.Unmarshal(body, &e)
	if e.Message != "" {
		return resp.StatusCode, e.Code + ": " + e.Message
	}
	return resp.StatusCode, resp.Header.Get(ErrorHeader)
}

// forwardOne sends target through a fixed-mode proxy for service (base
// path base) and returns what the upstream got; it fails unless the proxy
// answered 200 and the signature verified.
func forwardOne(t *testing.T, base, service, target string) wireRequest {
	t.Helper()
	rec := newWireRecorder(t)
	addr := fixedProxyToWire(t, rec, base, service)
	status, msg := sendRaw(t, addr, http.MethodGet, target)
	if status != http.StatusOK {
		t.Fatalf("GET %q: status %d (%s), want 200", target, status, msg)
	}
	got := rec.last(t)
	if got.VerifyErr != nil {
		t.Errorf("GET %q: the upstream's verifier rejected the signature of %q: %v", target, got.Target, got.VerifyErr)
	}
	return got
}

// TestQueryWithSemicolonIsForwardedUnchanged: a raw ';' in the query used
// to make httputil.ReverseProxy re-encode the query and drop the pair that
// held it (prefix=a;b vanished, so a listing returned every key).
func TestQueryWithSemicolonIsForwardedUnchanged(t *testing.T) {
	for _, tc := range []struct{ service, target string }{
		{"s3", "/bucket?list-type=2&prefix=a;b"},
		{"s3", "/bucket?prefix=a;b;c&delimiter=/&list-type=2"},
		{"sqs", "/?Action=SendMessage&MessageBody=a;b&Version=2012-11-05"},
		{"sqs", "/123456789012/q?Action=SendMessage&MessageBody=x%3By;z&Version=2012-11-05"},
		{"execute-api", "/prod/items?filter=a;b&sort=c+d&empty=&flag"},
	} {
		t.Run(tc.service+tc.target, func(t *testing.T) {
			got := forwardOne(t, "", tc.service, tc.target)
			if got.Target != tc.target {
				t.Errorf("upstream request target %q, want %q as the client sent it", got.Target, tc.target)
			}
		})
	}
}

// TestMalformedQueryEscapeIsRefusedNamingTheParameter: a '%' not followed by
// two hex digits cannot be canonicalized for SigV4 the way every verifier
// would. It used to be dropped with its pair (prefix=zzz%zz listed every
// key); it is refused with 400 naming the parameter, and nothing is sent.
func TestMalformedQueryEscapeIsRefusedNamingTheParameter(t *testing.T) {
	rec := newWireRecorder(t)
	addr := fixedProxyToWire(t, rec, "", "s3")
	for target, name := range map[string]string{
		"/bucket?list-type=2&prefix=zzz%zz": "prefix",
		"/bucket?list-type=2&prefix=a%":     "prefix",
		"/bucket?pre%fix=a&list-type=2":     "pre%fix",
		"/bucket?list-type=2&%70refix=%4":   "prefix",
	} {
		status, msg := sendRaw(t, addr, http.MethodGet, target)
		if status != http.StatusBadRequest || !strings.Contains(msg, `"`+name+`"`) {
			t.Errorf("GET %q: status %d %q, want 400 naming %q", target, status, msg, name)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}

// TestPathEscapesAreForwardedAsSent: a raw '|', '{', '"', '^' or UTF-8 byte
// in the path made net/http re-escape it from the decoded form, turning
// %2F into '/' and %2e%2e into '..' on the wire and in the signature. The
// request target is the client's bytes, with only the fixed-mode base path
// put in front, and the signature verifies over those bytes.
func TestPathEscapesAreForwardedAsSent(t *testing.T) {
	for _, tc := range []struct{ base, service, target string }{
		{"", "execute-api", "/prod/items/a%2Fb|c"},
		{"", "execute-api", "/prod/files/caf\xc3\xa9/%2e%2e/%2e%2e/admin"},
		{"", "execute-api", "/prod/q/{id}/\"x\"/a^b?x=%2F"},
		{"/stage", "execute-api", "/items/a%2Fb|c%2e"},
		{"", "s3", "/bucket/a%2Fb|c"},
		{"", "s3", "/bucket/caf\xc3\xa9/%2e%2e/%2E/x{y}^\"z\""},
		{"", "s3", "/bucket/%41%7c%c3%a9+x"},
		{"/base", "s3", "/bucket/a|b%2Fc"},
		{"", "s3", "//bucket/a%2Fb"},
	} {
		t.Run(tc.service+tc.base+tc.target, func(t *testing.T) {
			got := forwardOne(t, tc.base, tc.service, tc.target)
			if want := tc.base + tc.target; got.Target != want {
				t.Errorf("upstream request target %q, want %q", got.Target, want)
			}
		})
	}
}

// TestPathTheProxyCannotSendAsIsIsRefused: net/http can write a path that
// starts with "//" only in its own escaping, so such a path holding bytes it
// would re-escape is refused rather than changed.
func TestPathTheProxyCannotSendAsIsIsRefused(t *testing.T) {
	rec := newWireRecorder(t)
	addr := fixedProxyToWire(t, rec, "", "s3")
	for _, target := range []string{"//bucket/a|b", "//caf\xc3\xa9", "*"} {
		if status, msg := sendRaw(t, addr, http.MethodGet, target); status != http.StatusBadRequest {
			t.Errorf("GET %q: status %d %q, want 400", target, status, msg)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("the upstream received %d requests, want none", n)
	}
}

// TestSigV2PresignParamsAreStripped: a URL presigned with SigV2 (the AWS CLI
// v1) carries AWSAccessKeyId, Signature and Expires; forwarded beside the
// proxy's SigV4 signature, MinIO answers "multiple authentication types".
// They are removed when AWSAccessKeyId and Signature are both present, and
// only then: an API's own Expires or Signature parameter stays.
func TestSigV2PresignParamsAreStripped(t *testing.T) {
	for target, want := range map[string]string{
		"/bucket/key?AWSAccessKeyId=AKIDEXAMPLE&Expires=1700000000&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D":            "/bucket/key",
		"/bucket/key?versionId=3&AWSAccessKeyId=AKIDEXAMPLE&Expires=1700000000&Signature=abc%3D&x-amz-security-token=tok": "/bucket/key?versionId=3",
		"/bucket/key?response-content-type=a;b&Signature=s&AWSAccessKeyId=A&Expires=1&partNumber=1":                       "/bucket/key?response-content-type=a;b&partNumber=1",
		"/bucket/key?%41WSAccessKeyId=A&Expires=1&Sign%61ture=s":                                                          "/bucket/key",
		"/bucket/key?Expires=1700000000":                     "/bucket/key?Expires=1700000000",
		"/bucket/key?Signature=s&Expires=1":                  "/bucket/key?Signature=s&Expires=1",
		"/bucket/key?AWSAccessKeyId=A&Expires=1":             "/bucket/key?AWSAccessKeyId=A&Expires=1",
		"/bucket/key?awsaccesskeyid=A&signature=s&expires=1": "/bucket/key?awsaccesskeyid=A&signature=s&expires=1",
		"/bucket/key?AWSAccessKeyId=A&Signature=s&Expires=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=f&X-Amz-Date=1&keep=%2F": "/bucket/key?keep=%2F",
	} {
		got := forwardOne(t, "", "s3", target)
		if got.Target != want {
			t.Errorf("GET %q: upstream request target %q, want %q", target, got.Target, want)
		}
	}
}

// TestPercentEncodedPresignNamesAreStripped: presigned-URL parameter names
// spelled with percent-encoded letters (%58-Amz-Signature,
// X-%41mz-Security-Token) used to be forwarded beside the proxy's own
// signature. Names are decoded before deciding; only those pairs go, and
// every other byte of the query stays as sent.
func TestPercentEncodedPresignNamesAreStripped(t *testing.T) {
	for target, want := range map[string]string{
		"/bucket/key?%58-Amz-Signature=abc": "/bucket/key",
		"/bucket/key?a=1;2&X-%41mz-Security-Token=tok&b=%2f%2F+c&%78-amz-credential=k&X-Amz-Date=1": "/bucket/key?a=1;2&b=%2f%2F+c",
		"/bucket/key?X%2dAmz%2dAlgorithm=x&%58%2D%41%6D%7A%2D%53ignedHeaders=host&&keep":            "/bucket/key?&keep",
		"/bucket/key?X-Amz-Meta-%41=keep&%58-Amz-Expires=60":                                        "/bucket/key?X-Amz-Meta-%41=keep",
	} {
		got := forwardOne(t, "", "s3", target)
		if got.Target != want {
			t.Errorf("GET %q: upstream request target %q, want %q", target, got.Target, want)
		}
	}
}

// fidelityProxies are the proxies FuzzForwardingFidelity drives, all in
// front of one raw-TCP recorder: fixed mode for S3 without a base path,
// fixed mode for API Gateway under a base path, and host mode sending
// *.amazonaws.com there with --connect-to.
type fidelityProxies struct {
	rec   *wireRecorder
	addrs [3]string
	bases [3]string
}

func startFidelityProxies(t testing.TB) *fidelityProxies {
	f := &fidelityProxies{rec: newWireRecorder(t)}
	f.addrs[0] = fixedProxyToWire(t, f.rec, "", "s3")
	f.addrs[1] = fixedProxyToWire(t, f.rec, "/prod", "execute-api")
	f.bases[1] = "/prod"
	cfg := testConfig()
	cfg.LogLevel = "warn"
	cfg.ConnectTo = []string{"*.amazonaws.com:=" + f.rec.URL()}
	srv := serveProxy(t, cfg, newStaticSource(), &logBuffer{}, slog.LevelWarn)
	f.addrs[2] = strings.TrimPrefix(srv.URL, "http://")
	return f
}

// fidelityRemoved are the request headers the proxy documents as removed
// (README "What is forwarded unchanged"), canonical names: its own
// signature headers, which it replaces; hop-by-hop headers; the client's
// forwarding headers; the framing, which the proxy sets for the body it
// sends; Host, which is the upstream's.
var fidelityRemoved = map[string]bool{
	"Authorization": true, "X-Amz-Date": true, "X-Amz-Security-Token": true, "X-Amz-Content-Sha256": true,
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
	"Content-Length": true, "Host": true,
}

// fidelityAdded are the headers the proxy documents as added: the
// signature, the framing, and the hop-by-hop headers net/http's proxy
// writes for a client that asked for trailers or an upgrade.
var fidelityAdded = map[string]bool{
	"Authorization": true, "X-Amz-Date": true, "X-Amz-Security-Token": true, "X-Amz-Content-Sha256": true,
	"Content-Length": true, "Transfer-Encoding": true, "Host": true, "Te": true, "Connection": true, "Upgrade": true,
}

// documentedValueChange reports whether the README documents that the
// proxy forwards a header value other than the one the client sent: for
// now, none does. (The header-value work that decides what a TAB or a
// non-breaking space inside a value becomes adjusts this.)
func documentedValueChange(name string, sent, got []string) bool {
	return false
}

// expectedTarget is what the upstream's request target must be for a
// client target, computed here independently of the proxy: the client's
// path (absolute-form loses its scheme and authority) after the base path,
// and its query less the presigned-URL parameters.
func expectedTarget(base, clientTarget string) string {
	t := clientTarget
	if i := strings.Index(t, "://"); i >= 0 && !strings.HasPrefix(t, "/") {
		t = t[i+3:]
		if j := strings.IndexAny(t, "/?"); j >= 0 {
			t = t[j:]
		} else {
			t = ""
		}
	}
	path, query, hasQuery := strings.Cut(t, "?")
	switch {
	case base != "" && path == "":
		path = base + "/"
	case path == "":
		path = "/"
	default:
		path = base + path
	}
	if !hasQuery {
		return path
	}
	var kept []string
	pairs := strings.Split(query, "&")
	names := map[string]bool{}
	for _, p := range pairs {
		n, _, _ := strings.Cut(p, "=")
		if d, err := url.QueryUnescape(n); err == nil {
			n = d
		}
		names[n] = true
	}
	sigV2 := names["AWSAccessKeyId"] && names["Signature"]
	for _, p := range pairs {
		n, _, _ := strings.Cut(p, "=")
		if d, err := url.QueryUnescape(n); err == nil {
			n = d
		}
		switch {
		case strings.HasPrefix(strings.ToLower(n), "x-amz-") && map[string]bool{
			"algorithm": true, "credential": true, "date": true, "expires": true,
			"signedheaders": true, "signature": true, "security-token": true,
		}[strings.ToLower(n)[6:]]:
		case sigV2 && (n == "AWSAccessKeyId" || n == "Signature" || n == "Expires"):
		default:
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 && query != "" {
		return path
	}
	return path + "?" + strings.Join(kept, "&")
}

// checkForwarded sends one client request (target and header lines) to
// proxy i and fails t unless the upstream received the client's target
// (as expectedTarget) and header values (but those documented), signed
// so that it verifies, or the proxy refused it with a 4xx before sending
// anything upstream.
func (f *fidelityProxies) checkForwarded(t *testing.T, i int, method, target string, headers []string) {
	t.Helper()
	var raw strings.Builder
	raw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com\r\n")
	for _, h := range headers {
		raw.WriteString(h + "\r\n")
	}
	raw.WriteString("Connection: close\r\n\r\n")
	// The client's request as an HTTP parser reads it: header values with
	// their surrounding blanks and line folds gone are what the proxy
	// receives, and what it must pass on.
	client, parseErr := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))

	before := len(f.rec.all())
	conn, err := net.Dial("tcp", f.addrs[i])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: no answer from the proxy: %v", raw.String(), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := f.rec.all()[before:]

	if resp.StatusCode != http.StatusOK {
		if len(got) != 0 {
			t.Fatalf("%q: answered %d but the upstream received %q", raw.String(), resp.StatusCode, got[0].Target)
		}
		// Refused: by net/http's own server (400, 417 Expect, 431, 501
		// Transfer-Encoding) or by the proxy, which says why with a 400.
		if resp.StatusCode < 400 || resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
			t.Fatalf("%q: refused with %d %s, want a 4xx", raw.String(), resp.StatusCode, body)
		}
		return
	}
	if parseErr != nil {
		t.Fatalf("%q: net/http cannot parse it (%v), yet the proxy forwarded it", raw.String(), parseErr)
	}
	if len(got) != 1 {
		t.Fatalf("%q: answered 200 but the upstream received %d requests", raw.String(), len(got))
	}
	up := got[0]
	if up.VerifyErr != nil {
		t.Errorf("%q: forwarded %q, whose signature does not verify: %v", raw.String(), up.Target, up.VerifyErr)
	}
	if up.Method != method {
		t.Errorf("%q: method %q upstream", raw.String(), up.Method)
	}
	if want := expectedTarget(f.bases[i], target); up.Target != want {
		t.Errorf("%q: upstream request target %q, want %q", raw.String(), up.Target, want)
	}
	named := map[string]bool{}
	for _, v := range client.Header["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			named[http.CanonicalHeaderKey(strings.TrimSpace(tok))] = true
		}
	}
	for name, sent := range client.Header {
		if fidelityRemoved[name] || named[name] {
			continue
		}
		// Blanks around a value are not part of it (RFC 9110 section 5.5):
		// the upstream's parser drops those a fold left at the end.
		want := trimValues(sent)
		if name == "User-Agent" && len(want) > 0 && want[0] == "" {
			want = nil // net/http sends no empty User-Agent: documented
		}
		if g := up.Header[name]; !slices.Equal(trimValues(g), want) && !documentedValueChange(name, sent, g) {
			t.Errorf("%q: header %s arrived as %q, sent %q", raw.String(), name, g, sent)
		}
	}
	for name := range up.Header {
		if _, sent := client.Header[name]; !sent && !fidelityAdded[name] {
			t.Errorf("%q: upstream received header %s=%q the client did not send", raw.String(), name, up.Header[name])
		}
	}
}

func trimValues(vs []string) []string {
	if vs == nil {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.Trim(v, " \t")
	}
	return out
}

// FuzzForwardingFidelity: for any request target and header set, the
// proxy either forwards the client's path, query and header values
// unchanged (apart from the headers and query parameters the README
// documents as removed or added) with a signature that verifies over what
// was sent, or refuses with a 4xx and sends nothing. The upstream is a raw
// TCP recorder, so the request line is compared byte for byte.
func FuzzForwardingFidelity(f *testing.F) {
	seeds := []struct {
		mode            uint8
		target, headers string
	}{
		{0, "/bucket?list-type=2&prefix=a;b", ""},
		{0, "/bucket?list-type=2&prefix=zzz%zz", ""},
		{2, "/?Action=SendMessage&MessageBody=a;b&Version=2012-11-05", ""},
		{1, "/items/a%2Fb|c", ""},
		{1, "/files/caf\xc3\xa9/%2e%2e/%2e%2e/admin", ""},
		{0, "/bucket/x{y}^\"z\"/%2e%2E/%2f", ""},
		{0, "/bucket/key?AWSAccessKeyId=AKID&Expires=1700000000&Signature=abc%3D", ""},
		{0, "/bucket/key?Expires=1700000000&versionId=1", ""},
		{0, "/bucket/key?%58-Amz-Signature=a&X-%41mz-Security-Token=t&keep=1;2", ""},
		{2, "http://s3.us-east-1.amazonaws.com/bucket/a|b?prefix=%C3%A9;x", ""},
		{0, "//bucket/a|b", ""},
		{0, "/bucket/key?", ""},
		{0, "/bucket/key", "Content-Disposition: attachment;\tfilename=\"a\tb.txt\"\nX-Amz-Meta-My-Key: v\nX-Amz-Meta-Nbsp: a\xc2\xa0b"},
		{0, "/bucket/key", "X-Amz-Date: 20200101T000000Z\nAuthorization: AWS4-HMAC-SHA256 x\nX-Amz-Security-Token: old"},
		{0, "/bucket/key", "User-Agent: \nX-Multi: a\nx-multi: b\nX-Forwarded-For: 10.0.0.1\nConnection: x-drop\nX-Drop: 1"},
		{1, "/items", "Accept: */*\nX-Folded: a\n  b\nX-Space:  padded  \nTE: trailers"},
		{2, "/bucket?x-id=GetObject&%2B=+", "Range: bytes=0-1\nIf-None-Match: \"etag\""},
		{0, "/bucket/key", "User-Agent: app/1\nUser-Agent: lib/2"},
		{0, "/bucket/key", "X-Nul: a\x00b\nX-Del: a\x7fb\nX-Latin: \xff\xfe\nX_Under: 1"},
		{1, "/items", "Content-Type: text/plain\nContent-Type: text/html\nCookie: a=1\nCookie: b=2"},
	}
	for _, s := range seeds {
		f.Add(s.mode, s.target, s.headers)
	}
	proxies := startFidelityProxies(f)
	f.Fuzz(func(t *testing.T, mode uint8, target, headers string) {
		// The request line is built from the target: a blank or line break
		// in it would make another request line, not another target.
		if target == "" || strings.ContainsAny(target, " \r\n") || len(target) > 4<<10 || len(headers) > 8<<10 {
			return
		}
		var lines []string
		for _, line := range strings.Split(headers, "\n") {
			name, _, ok := strings.Cut(line, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "host", "content-length", "transfer-encoding", "expect":
				// The framing and the target host are the test's: a body
				// announced and never sent would only wait.
				continue
			}
			if line == "" || !ok && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
				continue
			}
			lines = append(lines, line)
		}
		proxies.checkForwarded(t, int(mode%3), http.MethodGet, target, lines)
	})
}
