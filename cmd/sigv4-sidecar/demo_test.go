package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var curlLine = regexp.MustCompile(`curl -s '(http://127\.0\.0\.1:\d+/hello\?name=world)' -d 'hi there'`)

// TestDemoVerifiedWithCurl starts the demo and runs the curl line it
// prints: the built-in upstream must say the proxy's signature verified.
func TestDemoVerifiedWithCurl(t *testing.T) {
	curl, ok := installCurl(t)
	if !ok {
		t.Fatal("curl is required for this test and apt-get could not install it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, invocation{args: []string{"--listen", "127.0.0.1:0"}, stdout: &stdout, stderr: &stderr})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop")
		}
	})

	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; {
		m = curlLine.FindStringSubmatch(stdout.String())
		if m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no curl line printed:\n%s\n%s", stdout.String(), stderr.String())
			}
			select {
			case err := <-done:
				t.Fatalf("demo exited: %v\n%s", err, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	out, err := exec.Command(curl, "-s", "--noproxy", "*", m[1], "-d", "hi there").Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var a demoAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, out)
	}
	if !a.Verified {
		t.Fatalf("signature not verified: %s\n%s", a.Reason, out)
	}
	if a.Method != "POST" || a.Path != "/hello" || a.Query != "name=world" || a.BodyBytes != len("hi there") {
		t.Errorf("upstream received %s %s?%s with %d bytes", a.Method, a.Path, a.Query, a.BodyBytes)
	}
	if !strings.HasSuffix(a.Scope, "/us-east-1/execute-api/aws4_request") || !strings.Contains(a.SignedHeaders, "host") {
		t.Errorf("scope %q, signed headers %q", a.Scope, a.SignedHeaders)
	}
	if authz := a.Headers["Authorization"]; !strings.HasSuffix(authz, "Signature=<hidden>") {
		t.Errorf("Authorization shown as %q", authz)
	}
}

// A request that does not come through the proxy is refused by the demo
// upstream, with the diagnosis.
func TestDemoUpstreamRefusesUnsigned(t *testing.T) {
	u := &demoUpstream{service: "execute-api", region: "us-east-1"}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil)
	u.ServeHTTP(rec, req)
	var a demoAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 403 || a.Verified || len(a.Problems) == 0 || !strings.HasPrefix(a.Problems[0], "authorization-missing") {
		t.Fatalf("status %d, answer %+v", rec.Code, a)
	}
}
