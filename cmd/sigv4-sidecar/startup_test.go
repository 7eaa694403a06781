package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/creds/credstest"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// credentialsAgent is a container credentials endpoint (EKS Pod Identity,
// ECS) on loopback that answers 503 while down is set and the test keys
// otherwise. asked counts the fetches it has answered.
type credentialsAgent struct {
	*httptest.Server
	down  atomic.Bool
	asked atomic.Int64
}

func newCredentialsAgent(t *testing.T) *credentialsAgent {
	t.Helper()
	a := &credentialsAgent{}
	a.down.Store(true)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer a.asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if a.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"code":"ServiceUnavailable","message":"agent down"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId":     testKeyID,
			"SecretAccessKey": testSecret,
			"Token":           "agent-session-token",
			"Expiration":      time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(a.Close)
	credstest.IsolateEnvironment(t, "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", a.URL+"/v1/credentials")
	return a
}

// getJSON GETs url and returns the status and the JSON object answered.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	if body == nil {
		body = map[string]any{"raw": string(raw)}
	}
	body["header.error"] = resp.Header.Get(sidecar.ErrorHeader)
	return resp.StatusCode, body
}

// TestServeStartsWithoutCredentials: with the credential agent down at
// start, serve comes up anyway (issue 15: exiting is a crash loop in
// Kubernetes). Meanwhile /healthz is 200, /readyz 503 naming the source and
// the fetch error, and every request 503 credentials_unavailable, never
// forwarded; the background fetches go on, and once the agent answers,
// /readyz and requests succeed without a restart. The test waits for states
// (polling with a generous deadline), never for a duration.
func TestServeStartsWithoutCredentials(t *testing.T) {
	agent := newCredentialsAgent(t)
	up, stats := verifyingUpstream(t)
	line, stderr, stop := serveInProcess(t, []string{"--upstream", up.URL, "--service", "s3", "--region", "us-east-1"}, nil)
	proxyAddr, _ := line["proxy_addr"].(string)
	adminAddr, _ := line["admin_addr"].(string)

	if status, body := getJSON(t, "http://"+adminAddr+"/healthz"); status != 200 {
		t.Errorf("/healthz without credentials = %d %v, want 200: the process is alive", status, body)
	}
	status, body := getJSON(t, "http://"+adminAddr+"/readyz")
	reason, _ := body["reason"].(string)
	if status != 503 || !strings.Contains(reason, "container") || !strings.Contains(reason, "agent down") {
		t.Errorf("/readyz without credentials = %d %v, want 503 with a reason naming the source and its error", status, body)
	}
	for range 3 {
		status, body := getJSON(t, "http://"+proxyAddr+"/bucket/key")
		if status != 503 || body["code"] != sidecar.CodeNoCredentials || body["header.error"] != sidecar.CodeNoCredentials {
			t.Errorf("request without credentials = %d %v, want 503 %s", status, body, sidecar.CodeNoCredentials)
		}
	}
	if n, _ := stats(); n != 0 {
		t.Fatalf("the upstream received %d requests while no credentials were held", n)
	}
	// The background keeps fetching: wait until the agent has been asked
	// again after the start's own attempt.
	waitFor(t, "a background fetch after the failed first one", func() bool { return agent.asked.Load() >= 2 })
	if n := strings.Count(stderr.String(), "no AWS credentials at start"); n != 1 {
		t.Errorf("%d start warnings about missing credentials, want 1:\n%s", n, stderr)
	}

	agent.down.Store(false)
	waitFor(t, "/readyz 200 once the agent answers", func() bool {
		status, _ := getJSON(t, "http://"+adminAddr+"/readyz")
		return status == 200
	})
	status, body = getJSON(t, "http://"+proxyAddr+"/bucket/key")
	if n, verr := stats(); status != 200 || n != 1 || verr != nil {
		t.Errorf("request after recovery = %d %v; upstream saw %d requests (%v), want one signed", status, body, n, verr)
	}
	stop()
	if n := strings.Count(stderr.String(), `"msg":"credentials loaded"`); n != 1 {
		t.Errorf("%d \"credentials loaded\" lines, want 1 on recovery:\n%s", n, stderr)
	}
	for _, secret := range []string{testSecret, "agent-session-token"} {
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
}

// TestServeExitWithoutCredentials: --exit-without-credentials keeps the
// fail-fast start: with the agent down, serve returns an error wrapping
// ErrNoCredentials and never listens.
func TestServeExitWithoutCredentials(t *testing.T) {
	agent := newCredentialsAgent(t)
	for _, how := range []struct {
		name    string
		args    []string
		environ []string
	}{
		{"Flag", []string{"--exit-without-credentials"}, nil},
		{"Variable", nil, []string{"SIGV4_EXIT_WITHOUT_CREDENTIALS=true"}},
	} {
		t.Run(how.name, func(t *testing.T) {
			stderr := &syncBuffer{}
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
				"--upstream", "http://127.0.0.1:1", "--service", "s3", "--region", "us-east-1"}, how.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := runEnv(ctx, args, how.environ, io.Discard, stderr)
			if !errors.Is(err, creds.ErrNoCredentials) || ctx.Err() != nil {
				t.Fatalf("serve with the agent down = %v, want an error wrapping ErrNoCredentials", err)
			}
			if strings.Contains(stderr.String(), `"msg":"listening"`) {
				t.Errorf("serve listened before failing:\n%s", stderr)
			}
		})
	}
	if agent.asked.Load() == 0 {
		t.Error("the agent was never asked")
	}
}

// waitFor polls cond until it holds, or fails the test after a deadline
// generous enough for a machine under load.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 2 minutes", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
