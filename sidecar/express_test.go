package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// The directory bucket and hosts the S3 Express tests use.
const (
	expressBucketName = "media--usw2-az1--x-s3"
	expressHost       = expressBucketName + ".s3express-usw2-az1.us-west-2.amazonaws.com"
	expressControl    = "s3express-control.us-west-2.amazonaws.com"
)

// expressSeen is what the stub saw of one request.
type expressSeen struct {
	Method, Host, Path, RawQuery string
	// KeyID signed the request; Session says it is a session's key.
	KeyID   string
	Session bool
	// SecurityToken and SessionToken are the x-amz-security-token and
	// x-amz-s3session-token headers; SessionTokenSigned says the latter
	// is in SignedHeaders.
	SecurityToken, SessionToken string
	SessionTokenSigned          bool
	Err                         error // why the stub refused it
}

// expressStub is a local S3 Express One Zone: CreateSession (GET /?session)
// verified with the base keys issues session keys, and requests signed
// with a session's keys are verified with them, as the service does; PUT
// and GET store and return objects. Its clock is the local one plus an
// offset the test moves with the proxy's.
type expressStub struct {
	*httptest.Server
	offset atomic.Int64
	// ttl is how long the sessions it issues live.
	ttl time.Duration
	// rejectNext answers the next session-signed request 400 ExpiredToken.
	rejectNext atomic.Bool
	// refuse answers every CreateSession 403 AccessDenied.
	refuse atomic.Bool
	// garble answers every CreateSession 200 with no credentials.
	garble atomic.Bool
	// createGate, when set, holds every CreateSession until it is closed.
	createGate chan struct{}

	mu       sync.Mutex
	base     map[string]creds.Credentials // by key id
	sessions map[string]stubSession       // by key id
	objects  map[string][]byte
	seen     []expressSeen
}

type stubSession struct {
	creds.Credentials
	bucket string
}

func newExpressStub(t *testing.T) *expressStub {
	s := &expressStub{
		ttl:      5 * time.Minute,
		sessions: map[string]stubSession{},
		objects:  map[string][]byte{},
		base: map[string]creds.Credentials{
			testKeyID:  {AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken},
			testKeyID2: {AccessKeyID: testKeyID2, SecretAccessKey: testSecret, SessionToken: testToken},
		},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *expressStub) now() time.Time {
	return time.Now().Add(time.Duration(s.offset.Load()))
}

// all returns a copy of every request seen.
func (s *expressStub) all() []expressSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// creates returns the CreateSession requests seen.
func (s *expressStub) creates() []expressSeen {
	var out []expressSeen
	for _, r := range s.all() {
		if r.Path == "/" && r.RawQuery == "session" {
			out = append(out, r)
		}
	}
	return out
}

// data returns the requests seen that were not CreateSession.
func (s *expressStub) data() []expressSeen {
	var out []expressSeen
	for _, r := range s.all() {
		if !(r.Path == "/" && r.RawQuery == "session") {
			out = append(out, r)
		}
	}
	return out
}

// secrets returns every session secret and token issued, which no log
// may show.
func (s *expressStub) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.sessions {
		out = append(out, c.SecretAccessKey, c.SessionToken)
	}
	return out
}

func (s *expressStub) fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message><RequestId>STUB</RequestId></Error>", code, message)
}

func (s *expressStub) handle(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	seen := expressSeen{Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		SecurityToken: r.Header.Get("X-Amz-Security-Token"), SessionToken: r.Header.Get("X-Amz-S3session-Token")}
	auth, _ := signer.ParseAuthorization(r.Header.Get("Authorization"))
	seen.KeyID = auth.AccessKeyID
	seen.SessionTokenSigned = slices.Contains(auth.SignedHeaders, "x-amz-s3session-token")
	s.mu.Lock()
	session, isSession := s.sessions[auth.AccessKeyID]
	base, isBase := s.base[auth.AccessKeyID]
	s.mu.Unlock()
	seen.Session = isSession
	record := func(err error) {
		seen.Err = err
		s.mu.Lock()
		s.seen = append(s.seen, seen)
		s.mu.Unlock()
	}
	lookup := func(id string) (signer.Credentials, bool) {
		switch {
		case isSession && id == session.AccessKeyID:
			return signer.Credentials{AccessKeyID: id, SecretAccessKey: session.SecretAccessKey}, true
		case isBase && id == base.AccessKeyID:
			return signer.Credentials{AccessKeyID: id, SecretAccessKey: base.SecretAccessKey}, true
		}
		return signer.Credentials{}, false
	}
	if _, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: now, Service: "s3express", Region: "us-west-2", HashBody: true}); err != nil {
		record(err)
		s.fail(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
		return
	}
	bucket, _, _ := strings.Cut(r.Host, ".")
	createSession := r.URL.Path == "/" && r.URL.RawQuery == "session"
	var refusal error
	switch {
	case isSession && (createSession || r.Header.Get("X-Amz-Copy-Source") != ""):
		refusal = fmt.Errorf("%s must be signed with IAM credentials, not a session", r.Method)
	case isSession && (seen.SessionToken != session.SessionToken || !seen.SessionTokenSigned):
		refusal = fmt.Errorf("x-amz-s3session-token %q (signed: %v) is not the session's", seen.SessionToken, seen.SessionTokenSigned)
	case isSession && seen.SecurityToken != "":
		refusal = fmt.Errorf("a session-signed request carries x-amz-security-token")
	case isSession && session.bucket != bucket:
		refusal = fmt.Errorf("session of bucket %s used on %s", session.bucket, bucket)
	case isBase && (seen.SecurityToken != base.SessionToken || seen.SessionToken != ""):
		refusal = fmt.Errorf("base-signed request: x-amz-security-token %q, x-amz-s3session-token %q", seen.SecurityToken, seen.SessionToken)
	}
	if refusal != nil {
		record(refusal)
		s.fail(w, http.StatusForbidden, "AccessDenied", refusal.Error())
		return
	}
	if isSession && session.Expired(now) {
		record(fmt.Errorf("session expired"))
		s.fail(w, http.StatusBadRequest, "ExpiredToken", "The provided token has expired.")
		return
	}
	if isSession && s.rejectNext.CompareAndSwap(true, false) {
		record(fmt.Errorf("rejected on request"))
		s.fail(w, http.StatusBadRequest, "ExpiredToken", "The provided token has expired.")
		return
	}
	record(nil)
	switch {
	case createSession:
		if s.createGate != nil {
			<-s.createGate
		}
		if s.refuse.Load() {
			s.fail(w, http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		if s.garble.Load() {
			w.Write([]byte("<CreateSessionResult><Credentials></Credentials></CreateSessionResult>"))
			return
		}
		s.mu.Lock()
		n := len(s.sessions) + 1
		c := creds.Credentials{
			AccessKeyID:     fmt.Sprintf("ASIASESSION%04d", n),
			SecretAccessKey: fmt.Sprintf("sessionSecret%04dEXAMPLEKEYxyz", n),
			SessionToken:    fmt.Sprintf("sessionToken%04dEXAMPLETOKEN", n),
			CanExpire:       true,
			Expires:         now.Add(s.ttl),
		}
		s.sessions[c.AccessKeyID] = stubSession{Credentials: c, bucket: bucket}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<CreateSessionResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Credentials><SessionToken>%s</SessionToken><SecretAccessKey>%s</SecretAccessKey><AccessKeyId>%s</AccessKeyId><Expiration>%s</Expiration></Credentials></CreateSessionResult>`,
			c.SessionToken, c.SecretAccessKey, c.AccessKeyID, c.Expires.UTC().Format(time.RFC3339))
	case r.Method == http.MethodPut && r.URL.Path != "/":
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.objects[r.URL.Path] = body
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodGet && r.URL.Path != "/":
		s.mu.Lock()
		body, ok := s.objects[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			s.fail(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Write(body)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// startExpressProxy serves a Proxy that sends every AWS host to stub, and
// fails the test if a base or session secret reached its log. wrap, if
// set, wraps the proxy's handler.
func startExpressProxy(t *testing.T, stub *expressStub, src creds.Source, wrap func(http.Handler) http.Handler) (*Proxy, *httptest.Server) {
	t.Helper()
	return startExpressProxyWith(t, testConfig(), stub, src, wrap)
}

// startExpressProxyWith is startExpressProxy with cfg.
func startExpressProxyWith(t *testing.T, cfg Config, stub *expressStub, src creds.Source, wrap func(http.Handler) http.Handler) (*Proxy, *httptest.Server) {
	t.Helper()
	// Every signed request's canonical request is logged: the session
	// token in it must not be.
	cfg.DebugSigning = true
	cfg.ConnectTo = []string{"*.amazonaws.com:=http://" + stub.Listener.Addr().String()}
	logs := &logBuffer{}
	t.Cleanup(func() {
		for _, secret := range append([]string{testSecret, testToken}, stub.secrets()...) {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log:\n%s", logs.String())
			}
		}
	})
	p, err := New(cfg, src, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = p
	if wrap != nil {
		h = wrap(p)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return p, srv
}

// setClock moves the proxy's signing clock and the stub's by d from the
// local clock, as if that much time had passed.
func setClock(p *Proxy, stub *expressStub, d time.Duration) {
	p.clock.SetOffset(d)
	stub.offset.Store(int64(d))
}

// expressDo sends a request for host through the proxy and returns the
// answer with its body read.
func expressDo(t *testing.T, proxy, method, host, target string, body []byte, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, proxy+target, r)
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
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got
}

// checkSessionSigned fails unless every request seen was accepted and the
// data requests were signed with a session.
func checkSessionSigned(t *testing.T, stub *expressStub) {
	t.Helper()
	for _, r := range stub.all() {
		if r.Err != nil {
			t.Errorf("stub refused %s %s?%s: %v", r.Method, r.Path, r.RawQuery, r.Err)
		}
	}
	for _, r := range stub.data() {
		if !r.Session {
			t.Errorf("%s %s?%s was signed with %s, not a session", r.Method, r.Path, r.RawQuery, r.KeyID)
		}
	}
}

// TestExpressPutGet: objects go into and come out of a directory bucket
// through the proxy, signed with a session that CreateSession, signed
// with the proxy's credentials, made; the client's own token headers are
// replaced.
func TestExpressPutGet(t *testing.T) {
	stub := newExpressStub(t)
	src := newStaticSource()
	_, proxy := startExpressProxy(t, stub, src, nil)
	object := []byte(strings.Repeat("directory bucket object ", 100))
	clientTokens := http.Header{"X-Amz-S3session-Token": {"client-session-token"}, "X-Amz-Security-Token": {"client-token"}}
	resp, body := expressDo(t, proxy.URL, http.MethodPut, expressHost, "/photos/cat.jpg", object, clientTokens)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	resp, body = expressDo(t, proxy.URL, http.MethodGet, expressHost, "/photos/cat.jpg", nil, clientTokens)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, object) {
		t.Fatalf("GET: %d, %d bytes, want the %d put", resp.StatusCode, len(body), len(object))
	}
	resp, body = expressDo(t, proxy.URL, http.MethodGet, expressHost, "/?list-type=2&prefix=photos%2F", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ListObjectsV2: %d %s", resp.StatusCode, body)
	}
	checkSessionSigned(t, stub)
	creates := stub.creates()
	if len(creates) != 1 || creates[0].KeyID != testKeyID || creates[0].SecurityToken != testToken || creates[0].Host != expressHost {
		t.Fatalf("CreateSession requests: %+v, want one on %s signed with the base key and token", creates, expressHost)
	}
	data := stub.data()
	if len(data) != 3 || data[0].KeyID != data[1].KeyID || data[1].KeyID != data[2].KeyID {
		t.Errorf("data requests %+v: want three signed with the one session", data)
	}
	if len(src.invalidated) != 0 {
		t.Errorf("base credentials invalidated: %v", src.invalidated)
	}
}

// TestExpressConcurrentRequestsMakeOneSession: requests that arrive
// together while the bucket has no session wait for one CreateSession.
// The stub holds it until every request has reached the proxy.
func TestExpressConcurrentRequestsMakeOneSession(t *testing.T) {
	const clients = 16
	stub := newExpressStub(t)
	stub.createGate = make(chan struct{})
	var arrived atomic.Int32
	_, proxy := startExpressProxy(t, stub, newStaticSource(), func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if arrived.Add(1) == clients {
				close(stub.createGate)
			}
			next.ServeHTTP(w, r)
		})
	})
	var wg sync.WaitGroup
	statuses := make([]int, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/k%d", proxy.URL, i), nil)
			req.Host = expressHost
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusNotFound { // signed and verified; the key does not exist
			t.Errorf("request %d: %d, want the stub's 404", i, st)
		}
	}
	checkSessionSigned(t, stub)
	if n := len(stub.creates()); n != 1 {
		t.Errorf("%d concurrent requests made %d sessions, want 1", clients, n)
	}
}

// TestExpressSessionRefreshAhead: a request in the session's last minute
// is signed with it and starts a new session in the background; once the
// first has expired, requests are signed with the new one. Time moves on
// the proxy's signing clock and the stub's, not the wall clock.
func TestExpressSessionRefreshAhead(t *testing.T) {
	stub := newExpressStub(t)
	p, proxy := startExpressProxy(t, stub, newStaticSource(), nil)
	get := func() expressSeen {
		t.Helper()
		if resp, body := expressDo(t, proxy.URL, http.MethodGet, expressHost, "/missing", nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		data := stub.data()
		return data[len(data)-1]
	}
	first := get()
	setClock(p, stub, 4*time.Minute+30*time.Second) // 30 s left
	if r := get(); r.KeyID != first.KeyID {
		t.Errorf("inside the refresh window the request waited for a new session (%s, want %s)", r.KeyID, first.KeyID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(stub.creates()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no CreateSession ahead of the session's expiry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	setClock(p, stub, 5*time.Minute+30*time.Second) // the first session has expired
	if r := get(); r.KeyID == first.KeyID || !r.Session {
		t.Errorf("after expiry signed with %s, want a new session", r.KeyID)
	}
	checkSessionSigned(t, stub)
	if n := len(stub.creates()); n != 2 {
		t.Errorf("%d sessions made, want 2", n)
	}
}

// TestExpressExpiredTokenRetry: a session the bucket rejects as expired is
// replaced and the request, body included, sent once more; the proxy's own
// credentials are left alone.
func TestExpressExpiredTokenRetry(t *testing.T) {
	stub := newExpressStub(t)
	src := newStaticSource()
	_, proxy := startExpressProxy(t, stub, src, nil)
	if resp, body := expressDo(t, proxy.URL, http.MethodGet, expressHost, "/warmup", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	stub.rejectNext.Store(true)
	object := []byte("replayed after ExpiredToken")
	resp, body := expressDo(t, proxy.URL, http.MethodPut, expressHost, "/retry", object, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s, want 200 after a new session", resp.StatusCode, body)
	}
	data := stub.data()
	if len(data) != 3 {
		t.Fatalf("data requests %+v, want warmup, rejected PUT, retried PUT", data)
	}
	rejected, retried := data[1], data[2]
	if rejected.Err == nil || retried.Err != nil || retried.KeyID == rejected.KeyID || !retried.Session {
		t.Errorf("rejected %+v, retried %+v: want the retry signed with a new session", rejected, retried)
	}
	if n := len(stub.creates()); n != 2 {
		t.Errorf("%d sessions made, want 2", n)
	}
	stub.mu.Lock()
	stored := stub.objects["/retry"]
	stub.mu.Unlock()
	if !bytes.Equal(stored, object) {
		t.Errorf("stored %q, want %q", stored, object)
	}
	if len(src.invalidated) != 0 {
		t.Errorf("a session's rejection invalidated the base credentials %v", src.invalidated)
	}
}

// TestExpressBaseCredentialsRotation: after the proxy's credentials
// rotate, the bucket gets a new session made with the new ones.
func TestExpressBaseCredentialsRotation(t *testing.T) {
	stub := newExpressStub(t)
	src := newStaticSource()
	_, proxy := startExpressProxy(t, stub, src, nil)
	for i := range 2 {
		if i == 1 {
			src.mu.Lock()
			src.c.AccessKeyID = testKeyID2
			src.mu.Unlock()
		}
		if resp, body := expressDo(t, proxy.URL, http.MethodGet, expressHost, "/k", nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %d: %d %s", i, resp.StatusCode, body)
		}
	}
	creates := stub.creates()
	if len(creates) != 2 || creates[0].KeyID != testKeyID || creates[1].KeyID != testKeyID2 {
		t.Fatalf("CreateSession requests %+v, want one per base key", creates)
	}
	data := stub.data()
	if data[0].KeyID == data[1].KeyID {
		t.Errorf("the session made with the old credentials was reused: %s", data[1].KeyID)
	}
	checkSessionSigned(t, stub)
}

// TestExpressPlainlySignedCalls: the calls AWS authorizes with IAM
// credentials, not a session, are signed with the proxy's own keys and
// token and make no session: CreateBucket (PUT / on the bucket, and the
// Regional endpoint's path-style form), HeadBucket, CopyObject,
// UploadPartCopy, bucket policy, and a client's own CreateSession, whose
// answer it gets back.
func TestExpressPlainlySignedCalls(t *testing.T) {
	stub := newExpressStub(t)
	_, proxy := startExpressProxy(t, stub, newStaticSource(), nil)
	copySource := http.Header{"X-Amz-Copy-Source": {"/" + expressBucketName + "/src"}}
	calls := []struct {
		name, method, host, target string
		header                     http.Header
	}{
		{"CreateBucket", http.MethodPut, expressHost, "/", nil},
		{"CreateBucketRegional", http.MethodPut, expressControl, "/" + expressBucketName, nil},
		{"ListDirectoryBuckets", http.MethodGet, expressControl, "/", nil},
		{"DeleteBucket", http.MethodDelete, expressHost, "/", nil},
		{"HeadBucket", http.MethodHead, expressHost, "/", nil},
		{"PutBucketPolicy", http.MethodPut, expressHost, "/?policy", nil},
		{"CopyObject", http.MethodPut, expressHost, "/dst", copySource},
		{"UploadPartCopy", http.MethodPut, expressHost, "/dst?partNumber=1&uploadId=abc", copySource},
		{"CreateSession", http.MethodGet, expressHost, "/?session", nil},
	}
	for _, c := range calls {
		resp, body := expressDo(t, proxy.URL, c.method, c.host, c.target, nil, c.header)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
		}
		if c.name == "CreateSession" && !bytes.Contains(body, []byte("<AccessKeyId>ASIASESSION")) {
			t.Errorf("the client's CreateSession answer did not reach it: %s", body)
		}
	}
	seen := stub.all()
	if len(seen) != len(calls) {
		t.Fatalf("stub saw %d requests, want %d (no session made by the proxy): %+v", len(seen), len(calls), seen)
	}
	for i, r := range seen {
		if r.Err != nil || r.Session || r.KeyID != testKeyID || r.SecurityToken != testToken || r.SessionToken != "" {
			t.Errorf("%s: %+v, want signed with the base key and token", calls[i].name, r)
		}
	}
}

// TestExpressSessionRefused: when CreateSession is refused, the client
// gets AWS's status and code in the proxy's error, and nothing is sent
// unsigned or with the wrong keys.
func TestExpressSessionRefused(t *testing.T) {
	stub := newExpressStub(t)
	stub.refuse.Store(true)
	_, proxy := startExpressProxy(t, stub, newStaticSource(), nil)
	resp, body := expressDo(t, proxy.URL, http.MethodGet, expressHost, "/k", nil, nil)
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
	}
	if resp.StatusCode != http.StatusForbidden || e.Code != CodeExpressSession || resp.Header.Get(ErrorHeader) != CodeExpressSession ||
		!strings.Contains(e.Message, "AccessDenied") || !strings.Contains(e.Message, expressBucketName) {
		t.Errorf("%d %s %+v", resp.StatusCode, resp.Header.Get(ErrorHeader), e)
	}
	if data := stub.data(); len(data) != 0 {
		t.Errorf("requests sent without a session: %+v", data)
	}
}

// TestExpressSessionUnusable: a CreateSession answer without credentials
// is a 502 that names the bucket, and without credentials of its own the
// proxy answers 503 before asking for a session; nothing is sent unsigned.
func TestExpressSessionUnusable(t *testing.T) {
	stub := newExpressStub(t)
	stub.garble.Store(true)
	src := newStaticSource()
	_, proxy := startExpressProxy(t, stub, src, nil)
	resp, body := expressDo(t, proxy.URL, http.MethodGet, expressHost, "/k", nil, nil)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(ErrorHeader) != CodeExpressSession || !strings.Contains(string(body), expressBucketName) {
		t.Errorf("garbled CreateSession: %d %s %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	src.mu.Lock()
	src.err = fmt.Errorf("%w: test source down", creds.ErrNoCredentials)
	src.mu.Unlock()
	before := len(stub.all())
	resp, body = expressDo(t, proxy.URL, http.MethodGet, expressHost, "/k", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(ErrorHeader) != CodeNoCredentials {
		t.Errorf("no credentials: %d %s %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	if n := len(stub.all()); n != before {
		t.Errorf("%d requests sent without credentials", n-before)
	}
	if data := stub.data(); len(data) != 0 {
		t.Errorf("requests sent without a session: %+v", data)
	}
}

// TestExpressFixedUpstream: with --upstream naming a directory bucket's
// Zonal endpoint, requests are signed with its session as in host mode,
// and CreateSession goes to the same upstream.
func TestExpressFixedUpstream(t *testing.T) {
	stub := newExpressStub(t)
	cfg := testConfig()
	cfg.Upstream = "https://" + expressHost
	_, proxy := startExpressProxyWith(t, cfg, stub, newStaticSource(), nil)
	object := []byte("fixed mode")
	if resp, body := expressDo(t, proxy.URL, http.MethodPut, "localhost", "/fixed", object, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	if resp, body := expressDo(t, proxy.URL, http.MethodGet, "localhost", "/fixed", nil, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(body, object) {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	checkSessionSigned(t, stub)
	creates := stub.creates()
	if len(creates) != 1 || creates[0].Host != expressHost || creates[0].KeyID != testKeyID {
		t.Errorf("CreateSession requests %+v, want one on %s with the base key", creates, expressHost)
	}
}
