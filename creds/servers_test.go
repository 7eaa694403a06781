package creds

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net"
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

	"github.com/sigv4-sidecar/sigv4-sidecar/creds/credstest"
)

// isolateAWSEnv points every AWS SDK input at an empty temporary home, so
// no test reads ~/.aws, the developer's environment or a real metadata
// service. It returns the temporary directory.
func isolateAWSEnv(t *testing.T) string {
	return credstest.IsolateEnvironment(t, "eu-west-1")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// listen returns a listener on a free loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ecsServer is an ECS / EKS Pod Identity style credentials endpoint: it
// checks the Authorization header against the token file's content and hands
// out a new generation of keys every period, each valid for lifetime.
type ecsServer struct {
	URL       string
	TokenFile string

	start    time.Time
	period   time.Duration
	lifetime time.Duration

	mu       sync.Mutex
	accepted map[string]bool // authorization tokens the endpoint takes
	used     []string        // the token of every authorized fetch, in order

	failing  atomic.Bool
	fetches  atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	badAuth  atomic.Int64
}

func newECSServer(t *testing.T, period, lifetime time.Duration) *ecsServer {
	t.Helper()
	s := &ecsServer{
		TokenFile: filepath.Join(t.TempDir(), "token"),
		start:     time.Now(),
		period:    period,
		lifetime:  lifetime,
		accepted:  map[string]bool{},
	}
	s.SetToken(t, "pod-identity-token-1")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/v1/credentials"
	return s
}

// SetToken rotates the authorization token the way the kubelet does for a
// projected service account token: the file is replaced. The endpoint keeps
// accepting older tokens (a fetch may have read the file just before);
// Used tells which token each fetch carried.
func (s *ecsServer) SetToken(t *testing.T, token string) {
	t.Helper()
	s.mu.Lock()
	s.accepted[token] = true
	s.mu.Unlock()
	tmp := s.TokenFile + ".tmp"
	writeFile(t, tmp, token)
	if err := os.Rename(tmp, s.TokenFile); err != nil {
		t.Fatal(err)
	}
}

// Used returns the token each authorized fetch carried, in order.
func (s *ecsServer) Used() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.used...)
}

// generation is the key generation current at now; generation n is issued
// at start+n*period.
func (s *ecsServer) generation(now time.Time) int {
	return int(now.Sub(s.start)/s.period) + 1
}

func (s *ecsServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	s.fetches.Add(1)
	// Hold each fetch a little so that overlapping fetches, if any, overlap.
	time.Sleep(5 * time.Millisecond)
	token := r.Header.Get("Authorization")
	s.mu.Lock()
	ok := s.accepted[token]
	if ok {
		s.used = append(s.used, token)
	}
	s.mu.Unlock()
	if !ok {
		s.badAuth.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":"AccessDenied","message":"bad authorization token"}`)
		return
	}
	if s.failing.Load() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"code":"ServiceUnavailable","message":"agent down"}`)
		return
	}
	now := time.Now()
	gen := s.generation(now)
	issued := s.start.Add(time.Duration(gen-1) * s.period)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"AccessKeyId":     genKeyID("ASIAECS", gen),
		"SecretAccessKey": genSecret(gen),
		"Token":           genToken(gen),
		"Expiration":      issued.Add(s.lifetime).UTC().Format(time.RFC3339Nano),
		"AccountId":       "123456789012",
	})
}

// Every generation's values derive from its number, so a reader can tell a
// torn pair (key id of one generation, secret of another) from a whole one.
func genKeyID(prefix string, gen int) string { return fmt.Sprintf("%s%09d", prefix, gen) }
func genSecret(gen int) string               { return fmt.Sprintf("secret/%d/wJalrXUtnFEMIK7MDENGbPxRfiCY", gen) }
func genToken(gen int) string {
	return fmt.Sprintf("token/%d/IQoJb3JpZ2luX2VjEDcaCXVzLWVhc3QtMSJH", gen)
}

// genOf checks that c is one whole generation and returns its number.
func genOf(c Credentials, prefix string) (int, error) {
	num, ok := strings.CutPrefix(c.AccessKeyID, prefix)
	if !ok {
		return 0, fmt.Errorf("access key id %q lacks prefix %q", c.AccessKeyID, prefix)
	}
	gen, err := strconv.Atoi(num)
	if err != nil {
		return 0, fmt.Errorf("access key id %q: %v", c.AccessKeyID, err)
	}
	if c.SecretAccessKey != genSecret(gen) {
		return 0, fmt.Errorf("torn credentials: key id of generation %d with secret %q", gen, c.SecretAccessKey)
	}
	if c.SessionToken != "" && c.SessionToken != genToken(gen) {
		return 0, fmt.Errorf("torn credentials: key id of generation %d with token %q", gen, c.SessionToken)
	}
	return gen, nil
}

// stsStub is a local STS: it parses the query-protocol form, checks the
// parameters against what the test expects, and answers in STS's XML.
type stsStub struct {
	URL string

	mu       sync.Mutex
	calls    []url2form
	problems []string
	// expect, by Action: parameter -> required value ("" means absent).
	expect map[string]map[string]string
	// signedBy, by Action: the access key id the Authorization header must
	// name ("" for AssumeRoleWithWebIdentity, which is unsigned).
	signedBy map[string]string
	issued   atomic.Int64
	lifetime time.Duration
}

type url2form map[string]string

func newSTSStub(t *testing.T) *stsStub {
	t.Helper()
	s := &stsStub{
		expect:   map[string]map[string]string{},
		signedBy: map[string]string{},
		lifetime: time.Hour,
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Listener = listen(t)
	srv.Start()
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

func (s *stsStub) problem(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>%s</Message></Error><RequestId>stub</RequestId></ErrorResponse>`, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *stsStub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.problem(w, "method %s, want POST", r.Method)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.problem(w, "form: %v", err)
		return
	}
	action := r.PostForm.Get("Action")
	form := url2form{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	s.mu.Lock()
	s.calls = append(s.calls, form)
	want, known := s.expect[action]
	signer := s.signedBy[action]
	s.mu.Unlock()
	if !known {
		s.problem(w, "unexpected Action %q", action)
		return
	}
	if v := r.PostForm.Get("Version"); v != "2011-06-15" {
		s.problem(w, "%s: Version %q", action, v)
		return
	}
	for k, v := range want {
		got, present := form[k]
		if v == "" && present {
			s.problem(w, "%s: %s=%q sent, want it absent", action, k, got)
			return
		}
		if v != "" && got != v {
			s.problem(w, "%s: %s=%q, want %q", action, k, got, v)
			return
		}
	}
	auth := r.Header.Get("Authorization")
	if signer == "" && auth != "" {
		s.problem(w, "%s: signed (%q), want an anonymous call", action, auth)
		return
	}
	if signer != "" && !strings.Contains(auth, "Credential="+signer+"/") {
		s.problem(w, "%s: Authorization %q, want it signed by %s", action, auth, signer)
		return
	}
	n := int(s.issued.Add(1))
	prefix := "ASIASTSAR"
	if action == "AssumeRoleWithWebIdentity" {
		prefix = "ASIASTSWI"
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <%[1]sResult>
    <Credentials>
      <AccessKeyId>%[2]s</AccessKeyId>
      <SecretAccessKey>%[3]s</SecretAccessKey>
      <SessionToken>%[4]s</SessionToken>
      <Expiration>%[5]s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/stub/%[6]s</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%[6]s</AssumedRoleId>
    </AssumedRoleUser>
  </%[1]sResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</%[1]sResponse>`, action, genKeyID(prefix, n), genSecret(n), genToken(n),
		time.Now().Add(s.lifetime).UTC().Format(time.RFC3339), xmlEscape(form["RoleSessionName"]))
}

func (s *stsStub) Expect(action string, params map[string]string, signedBy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expect[action] = params
	s.signedBy[action] = signedBy
}

func (s *stsStub) Calls(action string) []url2form {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []url2form
	for _, c := range s.calls {
		if c["Action"] == action {
			out = append(out, c)
		}
	}
	return out
}

// testLogger sends a Cache's log to the test's log, at Debug.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
