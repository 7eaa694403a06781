package sidecar

// Credential rotation through the proxy (issue 4): real credential sources
// (the AWS SDK's container provider against a local ECS-style endpoint, the
// credentials file, assume-role against a local STS) behind creds.Cache, a
// verifying upstream that accepts only the keys that are valid now, and a
// steady load. The upstream is stricter than AWS: it refuses a rotated key
// after a short grace, so that every rejection path is exercised.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/creds/credstest"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Every generation of rotated keys derives from its number, so the upstream
// can look any key up and tell a torn pair from a whole one.
func rotKeyID(prefix string, gen int) string { return fmt.Sprintf("%s%09d", prefix, gen) }
func rotSecret(gen int) string               { return fmt.Sprintf("rot/%d/wJalrXUtnFEMIK7MDENGbPxRfiCY", gen) }
func rotToken(gen int) string                { return fmt.Sprintf("rot-token/%d/IQoJb3JpZ2luX2VjEDcaCXVz", gen) }

// rotGen parses the generation out of a key id; ok is false for a key id
// that is not of this prefix.
func rotGen(prefix, keyID string) (int, bool) {
	num, ok := strings.CutPrefix(keyID, prefix)
	if !ok {
		return 0, false
	}
	gen, err := strconv.Atoi(num)
	return gen, err == nil
}

// isolateAWSEnvironment points every AWS SDK input at an empty temporary
// home, so no test reads ~/.aws, the developer's environment or a metadata
// service.
func isolateAWSEnvironment(t *testing.T) string {
	return credstest.IsolateEnvironment(t, "us-east-1")
}

// writeAtomically replaces path's content the way a Secret volume or a
// rotation tool does: write a temporary file, then rename it over.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	if err := replaceFile(path, content); err != nil {
		t.Fatal(err)
	}
}

func replaceFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// credentialEndpoint is an ECS / EKS Pod Identity style container
// credentials endpoint. It checks the Authorization header against the token
// file and answers with the generation issue names.
type credentialEndpoint struct {
	URL       string
	TokenFile string
	token     string
	// issue returns the generation to hand out and its expiry.
	issue func(now time.Time) (gen int, expires time.Time)

	failing atomic.Bool
	fetches atomic.Int64
	failed  atomic.Int64 // fetches answered 503 while failing
	badAuth atomic.Int64
}

// newCredentialEndpoint starts the endpoint and points the SDK's container
// provider at it (AWS_CONTAINER_CREDENTIALS_FULL_URI,
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
func newCredentialEndpoint(t *testing.T, issue func(time.Time) (int, time.Time)) *credentialEndpoint {
	t.Helper()
	e := &credentialEndpoint{TokenFile: filepath.Join(t.TempDir(), "token"), token: "eks-pod-identity-token", issue: issue}
	writeAtomically(t, e.TokenFile, e.token)
	srv := httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(srv.Close)
	e.URL = srv.URL + "/v1/credentials"
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", e.URL)
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", e.TokenFile)
	return e
}

func (e *credentialEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	e.fetches.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != e.token {
		e.badAuth.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"AccessDenied","message":"bad authorization token"}`)
		return
	}
	if e.failing.Load() {
		e.failed.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"code":"ServiceUnavailable","message":"agent down"}`)
		return
	}
	gen, expires := e.issue(time.Now())
	json.NewEncoder(w).Encode(map[string]string{
		"AccessKeyId":     rotKeyID("ASIAROT", gen),
		"SecretAccessKey": rotSecret(gen),
		"Token":           rotToken(gen),
		"Expiration":      expires.UTC().Format(time.RFC3339Nano),
	})
}

// schedule is a generation every period from start, each valid for
// lifetime from its issue.
type schedule struct {
	start            time.Time
	period, lifetime time.Duration
}

func (s schedule) generation(now time.Time) int { return int(now.Sub(s.start)/s.period) + 1 }
func (s schedule) issued(gen int) time.Time {
	return s.start.Add(time.Duration(gen-1) * s.period)
}
func (s schedule) issue(now time.Time) (int, time.Time) {
	gen := s.generation(now)
	return gen, s.issued(gen).Add(s.lifetime)
}

// keyUpstream is an S3-style upstream that verifies every request's SigV4
// with signer.Verify against the generation its key id names, checks the
// session token, and then asks valid whether that generation's key is
// accepted now. A refused key gets S3's answer: 403 with the code in the
// XML body only, no error header.
type keyUpstream struct {
	*httptest.Server
	prefix     string
	withToken  bool
	rejectCode string
	valid      func(gen int, now time.Time) bool

	mu        sync.Mutex
	accepted  map[int]int    // generation -> requests accepted
	rejected  map[string]int // code -> requests refused
	problems  []string       // signatures that did not verify, torn keys
	keysSeen  []string       // key id of every request, in order
	tokenSeen []string       // X-Amz-Security-Token of every request
}

func newKeyUpstream(t *testing.T, prefix string, withToken bool, rejectCode string, valid func(int, time.Time) bool) *keyUpstream {
	t.Helper()
	u := &keyUpstream{prefix: prefix, withToken: withToken, rejectCode: rejectCode, valid: valid,
		accepted: map[int]int{}, rejected: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	t.Cleanup(func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		for i, p := range u.problems {
			if i == 10 {
				t.Errorf("upstream: %d more problems", len(u.problems)-10)
				break
			}
			t.Error("upstream: " + p)
		}
	})
	return u
}

var verifier = signer.New(nil)

func (u *keyUpstream) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var gen int
	lookup := func(keyID string) (signer.Credentials, bool) {
		g, ok := rotGen(u.prefix, keyID)
		if !ok {
			return signer.Credentials{}, false
		}
		gen = g
		c := signer.Credentials{AccessKeyID: keyID, SecretAccessKey: rotSecret(g)}
		if u.withToken {
			c.SessionToken = rotToken(g)
		}
		return c, true
	}
	res, err := verifier.Verify(r, lookup, signer.VerifyOptions{Now: now, Service: "s3", Region: "us-east-1", HashBody: true})
	body, _ := io.ReadAll(r.Body)
	token := r.Header.Get("X-Amz-Security-Token")

	u.mu.Lock()
	u.keysSeen = append(u.keysSeen, keyIDOf(r.Header.Get("Authorization")))
	u.tokenSeen = append(u.tokenSeen, token)
	var verr *signer.VerifyError
	code := ""
	switch {
	case errors.As(err, &verr) && verr.Reason == signer.ReasonUnknownKey:
		code = "InvalidAccessKeyId"
		u.problems = append(u.problems, fmt.Sprintf("%s %s: unknown key %s", r.Method, r.URL.Path, keyIDOf(r.Header.Get("Authorization"))))
	case err != nil:
		code = "SignatureDoesNotMatch"
		u.problems = append(u.problems, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
	case u.withToken && (token != rotToken(gen) || !strings.Contains(";"+res.SignedHeaders+";", ";x-amz-security-token;")):
		code = "InvalidToken"
		u.problems = append(u.problems, fmt.Sprintf("%s %s: generation %d, token %q signed in %q", r.Method, r.URL.Path, gen, token, res.SignedHeaders))
	case !u.withToken && token != "":
		code = "InvalidToken"
		u.problems = append(u.problems, fmt.Sprintf("%s %s: a session token with static keys", r.Method, r.URL.Path))
	case !u.valid(gen, now):
		code = u.rejectCode
	}
	if code != "" {
		u.rejected[code]++
	} else {
		u.accepted[gen]++
	}
	u.mu.Unlock()

	if code != "" {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", "REJECTED1")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>The provided token has expired.</Message><RequestId>REJECTED1</RequestId></Error>`, code)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "ok %s %d", r.Method, len(body))
}

func keyIDOf(authorization string) string {
	_, rest, _ := strings.Cut(authorization, "Credential=")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// newest returns the newest generation accepted, 0 before any. Generations
// only count up, so "the newest is at least N" is a state a test can wait
// for; how many distinct ones were accepted depends on scheduling (a
// generation that lives between two polls of a loaded machine is never
// used) and is no assertion.
func (u *keyUpstream) newest() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	newest := 0
	for g := range u.accepted {
		newest = max(newest, g)
	}
	return newest
}

func (u *keyUpstream) counts() (accepted int, rejected map[string]int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, n := range u.accepted {
		accepted += n
	}
	rejected = map[string]int{}
	for k, v := range u.rejected {
		rejected[k] = v
	}
	return accepted, rejected
}

func (u *keyUpstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.keysSeen)
}

// rotationProxy serves a Proxy in fixed mode to up for S3 with payload
// mode payload. The load tests sign every body (--payload signed): the body
// is spooled to be hashed, so any request can be replayed after a
// credential rejection.
func rotationProxy(t *testing.T, up *keyUpstream, src creds.Source, payload string, logs *logBuffer, secrets func() []string) string {
	t.Helper()
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "s3", "us-east-1"
	cfg.Payload = payload
	p, err := New(cfg, src, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
		for _, s := range secrets() {
			if strings.Contains(logs.String(), s) {
				t.Errorf("a secret reached the log")
				return
			}
		}
	})
	return srv.URL
}

// secretsUpTo lists the secrets and tokens of generations 1..n.
func secretsUpTo(n func() int) func() []string {
	return func() []string {
		var out []string
		for g := 1; g <= n()+1; g++ {
			out = append(out, rotSecret(g), rotToken(g))
		}
		return out
	}
}

// loadResult is what a load run saw.
type loadResult struct {
	requests atomic.Int64
	failed   atomic.Int64
	mu       sync.Mutex
	first    []string // the first failures
}

func (l *loadResult) fail(format string, args ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.first) < 10 {
		l.first = append(l.first, fmt.Sprintf(format, args...))
	}
}

// runLoad sends GETs and PUTs from workers goroutines through proxy until
// done reports true or limit passes, and returns what they saw. Every
// answer must be 200 with the upstream's body.
func runLoad(t *testing.T, proxy string, workers int, done func() bool, limit time.Duration) *loadResult {
	t.Helper()
	res := &loadResult{}
	client := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				method, body := http.MethodGet, ""
				if i%2 == 1 {
					method, body = http.MethodPut, fmt.Sprintf("worker %d object %d", w, i)
				}
				req, _ := http.NewRequest(method, fmt.Sprintf("%s/bucket/w%d/o%d", proxy, w, i), strings.NewReader(body))
				if body == "" {
					req.Body = nil
				}
				res.requests.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					res.fail("%s: %v", method, err)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("ok %s %d", method, len(body)); resp.StatusCode != http.StatusOK || string(got) != want {
					res.fail("%s: %d %s %q", method, resp.StatusCode, resp.Header.Get(ErrorHeader), got)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	deadline := time.Now().Add(limit)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	for _, f := range res.first {
		t.Error("request failed: " + f)
	}
	return res
}

// TestRejectedCredentialsInS3XMLBodyRetriedWithFreshKeys is the regression
// test for the credential-rejection check that read headers only: S3 puts
// ExpiredToken (and InvalidAccessKeyId, TokenRefreshRequired, InvalidToken)
// in the XML body, with no error header, so the proxy never invalidated the
// keys. The source is the SDK's container provider against an endpoint that
// hands out a new generation on every fetch; the upstream refuses the
// first generation.
func TestRejectedCredentialsInS3XMLBodyRetriedWithFreshKeys(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      string
		method    string
		body      string
		payload   string
		rejectAll bool
		// want: the upstream's requests and the client's status.
		wantRequests int
		wantStatus   int
	}{
		{"GetExpiredToken", "ExpiredToken", http.MethodGet, "", PayloadSigned, false, 2, 200},
		{"PutSpooledExpiredToken", "ExpiredToken", http.MethodPut, "spooled body", PayloadSigned, false, 2, 200},
		{"GetInvalidAccessKeyId", "InvalidAccessKeyId", http.MethodGet, "", PayloadSigned, false, 2, 200},
		{"GetTokenRefreshRequired", "TokenRefreshRequired", http.MethodGet, "", PayloadSigned, false, 2, 200},
		{"GetInvalidToken", "InvalidToken", http.MethodGet, "", PayloadSigned, false, 2, 200},
		// A streamed aws-chunked body cannot be replayed: the upstream's
		// answer passes through, and the next request has fresh keys.
		{"PutStreamedPassesThrough", "ExpiredToken", http.MethodPut, "streamed body", PayloadChunked, false, 1, 403},
		// Retried once only: a second rejection passes through.
		{"SecondRejectionPassesThrough", "ExpiredToken", http.MethodGet, "", PayloadSigned, true, 2, 403},
		// Not a credential problem: no invalidation, no retry.
		{"AccessDeniedNotRetried", "AccessDenied", http.MethodGet, "", PayloadSigned, false, 1, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnvironment(t)
			var issued atomic.Int64
			endpoint := newCredentialEndpoint(t, func(now time.Time) (int, time.Time) {
				return int(issued.Add(1)), now.Add(time.Hour)
			})
			up := newKeyUpstream(t, "ASIAROT", true, tc.code, func(gen int, _ time.Time) bool { return gen > 1 && !tc.rejectAll })
			logs := &logBuffer{}
			src, err := creds.Load(t.Context(), creds.Config{}, slog.New(slog.NewJSONHandler(logs, nil)))
			if err != nil {
				t.Fatalf("creds.Load: %v", err)
			}
			t.Cleanup(func() { src.(*creds.Cache).Close() })
			proxy := rotationProxy(t, up, src, tc.payload, logs, secretsUpTo(func() int { return int(issued.Load()) }))

			req, _ := http.NewRequest(tc.method, proxy+"/bucket/key", strings.NewReader(tc.body))
			if tc.body == "" {
				req.Body = nil
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, got, tc.wantStatus)
			}
			if n := up.requests(); n != tc.wantRequests {
				t.Errorf("upstream got %d requests, want %d", n, tc.wantRequests)
			}
			up.mu.Lock()
			keys := append([]string(nil), up.keysSeen...)
			up.mu.Unlock()
			if len(keys) == 0 || keys[0] != rotKeyID("ASIAROT", 1) {
				t.Fatalf("keys sent %v, want generation 1 first", keys)
			}
			switch {
			case tc.wantStatus == 200:
				if want := fmt.Sprintf("ok %s %d", tc.method, len(tc.body)); string(got) != want {
					t.Errorf("body %q, want %q", got, want)
				}
				if len(keys) < 2 || keys[1] != rotKeyID("ASIAROT", 2) {
					t.Errorf("keys sent %v, want the retry signed with the fresh generation 2", keys)
				}
			default:
				// The upstream's answer, untouched: its XML and its headers,
				// none of the proxy's.
				if !strings.Contains(string(got), "<Code>"+tc.code+"</Code>") || resp.Header.Get("X-Amz-Request-Id") != "REJECTED1" || resp.Header.Get(ErrorHeader) != "" {
					t.Errorf("passed through %q (request id %q, %s %q), want the upstream's answer", got, resp.Header.Get("X-Amz-Request-Id"), ErrorHeader, resp.Header.Get(ErrorHeader))
				}
			}
			invalidated := awserror.IsCredentialRejection(tc.code)
			// The request log line is written once the answer has gone out.
			want := fmt.Sprintf(`"attempts":%d`, tc.wantRequests)
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), want) && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), want) {
				t.Errorf("request log lacks %s:\n%s", want, logs.String())
			}
			if logged := strings.Contains(logs.String(), "credentials invalidated: the upstream rejected them"); logged != invalidated {
				t.Errorf("invalidation logged: %v, want %v", logged, invalidated)
			}
			if tc.wantRequests == 1 {
				// Whether the keys were dropped shows on the next request.
				next, err := src.Retrieve(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if fresh := next.AccessKeyID != rotKeyID("ASIAROT", 1); fresh != invalidated {
					t.Errorf("after %s: next request signs with %s; want fresh keys: %v", tc.code, next.AccessKeyID, invalidated)
				}
			}
			if endpoint.badAuth.Load() != 0 {
				t.Errorf("%d fetches without the authorization token", endpoint.badAuth.Load())
			}
		})
	}
}

// TestContainerEndpointRotationUnderLoad: a local ECS-style endpoint hands
// out a new generation every second, each expiring after two; the upstream
// accepts only the current generation and the previous one for a short
// grace after a rotation. A steady concurrent load through the proxy must
// see no failure across at least 10 rotations: the cache refreshes ahead of
// expiry, and a request signed with a just-rotated key is rejected with an
// S3 XML ExpiredToken, invalidated, and retried once with the new key.
func TestContainerEndpointRotationUnderLoad(t *testing.T) {
	const (
		period    = time.Second
		grace     = 300 * time.Millisecond
		rotations = 10
	)
	isolateAWSEnvironment(t)
	s := schedule{start: time.Now(), period: period, lifetime: 2 * period}
	endpoint := newCredentialEndpoint(t, s.issue)
	up := newKeyUpstream(t, "ASIAROT", true, "ExpiredToken", func(gen int, now time.Time) bool {
		current := s.generation(now)
		return gen == current || (gen == current-1 && now.Sub(s.issued(current)) < grace)
	})
	provider, err := creds.Resolve(t.Context(), creds.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cache := creds.NewCache(provider, creds.CacheOptions{
		Log:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	t.Cleanup(func() { cache.Close() })
	proxy := rotationProxy(t, up, cache, PayloadSigned, logs, secretsUpTo(func() int { return s.generation(time.Now()) }))

	// Generation numbers follow the clock: accepting generation rotations+1
	// means the load ran across at least that many rotations.
	load := runLoad(t, proxy, 4, func() bool { return up.newest() > rotations }, 90*time.Second)

	accepted, rejected := up.counts()
	gens := up.newest()
	if gens <= rotations {
		t.Errorf("upstream accepted generations up to %d, want at least %d: the load did not follow the rotations", gens, rotations+1)
	}
	if load.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed, want 0", load.failed.Load(), load.requests.Load())
	}
	if endpoint.badAuth.Load() != 0 {
		t.Errorf("%d fetches without the authorization token", endpoint.badAuth.Load())
	}
	st := cache.Status()
	t.Logf("%d requests, %d rotations, %d failed; upstream accepted %d, rejected %v (each retried with fresh keys); %d endpoint fetches, %d cache refreshes",
		load.requests.Load(), gens-1, load.failed.Load(), accepted, rejected, endpoint.fetches.Load(), st.Refreshes)
}

// TestContainerEndpointOutage: the endpoint fails for a while. Requests
// keep succeeding on the held credentials until they expire; then the
// proxy fails closed (503 credentials_unavailable, X-Sigv4-Sidecar-Error,
// nothing sent upstream) and /readyz fails; once the endpoint answers
// again both recover, without a restart.
func TestContainerEndpointOutage(t *testing.T) {
	isolateAWSEnvironment(t)
	s := schedule{start: time.Now(), period: time.Second, lifetime: 2 * time.Second}
	endpoint := newCredentialEndpoint(t, s.issue)
	// The upstream accepts a key until it expires (as AWS does), plus a
	// margin for a request signed just before.
	up := newKeyUpstream(t, "ASIAROT", true, "ExpiredToken", func(gen int, now time.Time) bool {
		return now.Before(s.issued(gen).Add(s.lifetime + time.Second))
	})
	provider, err := creds.Resolve(t.Context(), creds.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cache := creds.NewCache(provider, creds.CacheOptions{
		Log:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, ExpiredWait: 200 * time.Millisecond,
	})
	t.Cleanup(func() { cache.Close() })
	if _, err := cache.Retrieve(t.Context()); err != nil {
		t.Fatalf("first credentials: %v", err)
	}
	proxy := rotationProxy(t, up, cache, PayloadSigned, logs, secretsUpTo(func() int { return s.generation(time.Now()) }))
	admin := httptest.NewServer(&Admin{Credentials: cache})
	t.Cleanup(admin.Close)

	get := func(url string) (int, string, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(ErrorHeader), body
	}
	if status, _, body := get(admin.URL + "/readyz"); status != 200 {
		t.Fatalf("/readyz before the outage: %d %s", status, body)
	}

	// Outage: every request succeeds until the held credentials expire.
	endpoint.failing.Store(true)
	heldUntil := cache.Status().Expires
	var okDuringOutage, sent int
	status, code, body := 0, "", []byte(nil)
	for sent = 1; sent <= 100000; sent++ {
		status, code, body = get(proxy + "/bucket/outage")
		if status != 200 {
			break
		}
		okDuringOutage++
		time.Sleep(5 * time.Millisecond)
	}
	failedAt := time.Now()
	if status != http.StatusServiceUnavailable || code != CodeNoCredentials {
		t.Fatalf("first failure during the outage: %d %q %s, want 503 %s", status, code, body, CodeNoCredentials)
	}
	if failedAt.Before(heldUntil) {
		t.Errorf("first 503 came before the held credentials expired (at %s)", heldUntil.Format(time.RFC3339Nano))
	}
	if okDuringOutage == 0 || endpoint.failed.Load() == 0 {
		t.Errorf("%d requests served on held credentials while %d fetches failed; want both > 0", okDuringOutage, endpoint.failed.Load())
	}
	var msg struct{ Code, Message string }
	if err := json.Unmarshal(body, &msg); err != nil || msg.Code != CodeNoCredentials ||
		!strings.Contains(msg.Message, "container-endpoint") || !strings.Contains(msg.Message, "expired at") {
		t.Errorf("503 body %q: want JSON with code %s and a message naming the source and the expiry", body, CodeNoCredentials)
	}
	before := up.requests()
	for range 5 {
		if status, code, _ := get(proxy + "/bucket/outage"); status != 503 || code != CodeNoCredentials {
			t.Errorf("during the outage: %d %q, want 503 %s", status, code, CodeNoCredentials)
		}
	}
	if status, _, body := get(admin.URL + "/readyz"); status != 503 || !strings.Contains(string(body), "container-endpoint") || !strings.Contains(string(body), "expired at") {
		t.Errorf("/readyz during the outage: %d %s, want 503 naming the source and when its credentials expired", status, body)
	}
	if n := up.requests() - before; n != 0 {
		t.Errorf("%d requests reached the upstream without credentials", n)
	}

	// Recovery, without a restart.
	endpoint.failing.Store(false)
	recovered := false
	var afterOutage int
	for deadline := time.Now().Add(time.Minute); !recovered && time.Now().Before(deadline); afterOutage++ {
		status, _, _ := get(proxy + "/bucket/outage")
		recovered = status == 200
		if !recovered {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !recovered {
		t.Fatal("the proxy did not recover within a minute of the endpoint answering again")
	}
	if status, _, body := get(admin.URL + "/readyz"); status != 200 {
		t.Errorf("/readyz after recovery: %d %s", status, body)
	}
	t.Logf("outage: %d requests served on held credentials, then 503 %s; %d failed fetches; recovered after %d requests",
		okDuringOutage, CodeNoCredentials, endpoint.failed.Load(), afterOutage)
}

// TestCredentialsFileRotationUnderLoad: static keys in --credentials-file
// are replaced atomically (rename) during a load; the upstream accepts only
// the newest key, and the previous one until the next rotation. No request
// fails, and the newest key is used after the last rotation.
//
// It once counted the generations the upstream accepted and wanted every
// one: when two rotations land between two polls of the file (a loaded
// machine), one key is never used, and the test failed with "upstream
// accepted 10 generations, want 11". Which keys were used in between is
// scheduling; what the proxy promises is no failure and the newest key.
func TestCredentialsFileRotationUnderLoad(t *testing.T) {
	const (
		rotations = 10
		every     = 500 * time.Millisecond
		// The previous key stays active until the next rotation: a request
		// retried with keys read fresh from the file fails only if two
		// rotations pass before it reaches the upstream.
		grace = every
	)
	dir := isolateAWSEnvironment(t)
	path := filepath.Join(dir, "mounted-secret", "credentials")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	keysFile := func(gen int) string {
		return fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", rotKeyID("AKIAFILE", gen), rotSecret(gen))
	}
	var (
		mu        sync.Mutex
		newest    = 1
		rotatedAt time.Time
	)
	writeAtomically(t, path, keysFile(1))
	up := newKeyUpstream(t, "AKIAFILE", false, "InvalidAccessKeyId", func(gen int, now time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		return gen >= newest || (gen == newest-1 && now.Sub(rotatedAt) < grace)
	})
	logs := &logBuffer{}
	src, err := creds.Load(t.Context(), creds.Config{CredentialsFile: path}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.(*creds.Cache).Close() })
	written := atomic.Int64{}
	written.Store(1)
	proxy := rotationProxy(t, up, src, PayloadSigned, logs, secretsUpTo(func() int { return int(written.Load()) }))

	// The rotation tool: a new key is created (AWS accepts it at once),
	// the file is replaced, and the old key is deactivated after the grace.
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		for gen := 2; gen <= rotations+1; gen++ {
			time.Sleep(every)
			written.Store(int64(gen))
			if err := replaceFile(path, keysFile(gen)); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			newest, rotatedAt = gen, time.Now()
			mu.Unlock()
		}
	}()
	// Run until every rotation is done and the newest key has been used.
	load := runLoad(t, proxy, 4, func() bool {
		select {
		case <-rotated:
			return up.newest() == rotations+1
		default:
			return false
		}
	}, 90*time.Second)
	<-rotated

	accepted, rejected := up.counts()
	if newest := up.newest(); newest != rotations+1 {
		t.Errorf("after the last rotation the upstream accepted keys up to generation %d, want the newest, %d", newest, rotations+1)
	}
	if load.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed, want 0", load.failed.Load(), load.requests.Load())
	}
	t.Logf("%d requests, %d file rotations, %d failed; upstream accepted %d, rejected %v (each retried with fresh keys)",
		load.requests.Load(), rotations, load.failed.Load(), accepted, rejected)
}

// stsStub is a local STS for AssumeRole: it verifies the call's SigV4 with
// the base keys, checks the role, external id, session name and duration,
// and answers in STS's XML with a new session each call.
type stsStub struct {
	URL string
	// base is the key the call must be signed with; role, externalID and
	// duration are the parameters it must carry.
	base                         signer.Credentials
	region, role, externalID     string
	durationSeconds, sessionName string

	issued   atomic.Int64
	mu       sync.Mutex
	problems []string
}

func newSTSStub(t *testing.T, s *stsStub) *stsStub {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Error("STS stub: " + p)
		}
	})
	return s
}

func (s *stsStub) serve(w http.ResponseWriter, r *http.Request) {
	problem := func(format string, args ...any) {
		s.mu.Lock()
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>stub refused the call</Message></Error></ErrorResponse>`)
	}
	lookup := func(keyID string) (signer.Credentials, bool) { return s.base, keyID == s.base.AccessKeyID }
	if _, err := verifier.Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: "sts", Region: s.region, HashBody: true}); err != nil {
		problem("AssumeRole not signed by the base keys for sts/%s: %v", s.region, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		problem("form: %v", err)
		return
	}
	f := r.PostForm
	name := f.Get("RoleSessionName")
	switch {
	case f.Get("Action") != "AssumeRole" || f.Get("Version") != "2011-06-15":
		problem("Action %q Version %q", f.Get("Action"), f.Get("Version"))
	case f.Get("RoleArn") != s.role:
		problem("RoleArn %q, want %q", f.Get("RoleArn"), s.role)
	case f.Get("ExternalId") != s.externalID:
		problem("ExternalId %q, want %q", f.Get("ExternalId"), s.externalID)
	case f.Get("DurationSeconds") != s.durationSeconds:
		problem("DurationSeconds %q, want %q", f.Get("DurationSeconds"), s.durationSeconds)
	case len(name) < 2 || len(name) > 64 || (s.sessionName != "" && name != s.sessionName):
		problem("RoleSessionName %q, want %q (2 to 64 characters)", name, s.sessionName)
	default:
		n := int(s.issued.Add(1))
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId>
      <SecretAccessKey>%s</SecretAccessKey>
      <SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/app/%s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, rotKeyID("ASIAROLE", n), rotSecret(n), rotToken(n), time.Now().Add(time.Hour).UTC().Format(time.RFC3339), name, name)
	}
}

// TestAssumeRoleSessionTokenReachesUpstreamSigned: with --role-arn and
// --external-id over base keys from the environment, the proxy assumes the
// role at a local STS (--sts-endpoint) signed with the base keys, and the
// upstream sees requests signed with the session's keys and its session
// token, the token among the signed headers. The base keys never reach the
// upstream.
func TestAssumeRoleSessionTokenReachesUpstreamSigned(t *testing.T) {
	isolateAWSEnvironment(t)
	base := signer.Credentials{AccessKeyID: "AKIABASEKEY000000001", SecretAccessKey: "base/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLE"}
	t.Setenv("AWS_ACCESS_KEY_ID", base.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", base.SecretAccessKey)
	sts := newSTSStub(t, &stsStub{
		base: base, region: "eu-west-1",
		role: "arn:aws:iam::123456789012:role/app", externalID: "tenant-7f3a",
		durationSeconds: "900", sessionName: "sidecar-test",
	})
	up := newKeyUpstream(t, "ASIAROLE", true, "ExpiredToken", func(int, time.Time) bool { return true })
	logs := &logBuffer{}
	src, err := creds.Load(t.Context(), creds.Config{
		RoleARN: sts.role, ExternalID: sts.externalID, RoleSessionName: sts.sessionName,
		RoleDuration: 15 * time.Minute, STSEndpoint: sts.URL, STSRegion: sts.region,
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("creds.Load: %v", err)
	}
	t.Cleanup(func() { src.(*creds.Cache).Close() })
	proxy := rotationProxy(t, up, src, PayloadSigned, logs, func() []string {
		return append(secretsUpTo(func() int { return int(sts.issued.Load()) })(), base.SecretAccessKey)
	})

	for i, method := range []string{http.MethodGet, http.MethodPut} {
		body := ""
		if method == http.MethodPut {
			body = "assumed-role object"
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("%s/bucket/role-%d", proxy, i), strings.NewReader(body))
		if body == "" {
			req.Body = nil
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("ok %s %d", method, len(body)); resp.StatusCode != 200 || string(got) != want {
			t.Errorf("%s: %d %q, want 200 %q", method, resp.StatusCode, got, want)
		}
	}
	up.mu.Lock()
	keys, tokens := append([]string(nil), up.keysSeen...), append([]string(nil), up.tokenSeen...)
	up.mu.Unlock()
	if len(keys) != 2 {
		t.Fatalf("upstream got %d requests, want 2", len(keys))
	}
	for i := range keys {
		if keys[i] != rotKeyID("ASIAROLE", 1) || tokens[i] != rotToken(1) {
			t.Errorf("request %d signed by %s with token %q, want the assumed role's session 1", i, keys[i], tokens[i])
		}
	}
	if n := sts.issued.Load(); n != 1 {
		t.Errorf("STS issued %d sessions, want 1 (the cache holds it)", n)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
