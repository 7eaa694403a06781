//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRoutesSignWithTheirOwnKeys runs the proxy with two routes, each with
// its own credentials file holding its own MinIO session keys (two
// AssumeRole results), and no credentials at the top level, for two
// clients that authenticate with bearer tokens, each admitted by its own
// route only: each route's requests reach MinIO signed with that route's
// keys, and only those, and verify; a client on the other's route gets 403
// client_not_allowed, one without a token 401, a request no route takes
// 403 no_route, and for none of these does MinIO receive anything.
func TestRoutesSignWithTheirOwnKeys(t *testing.T) {
	s := serverNamed("minio")
	tp := newTap(t, s)
	home := t.TempDir()
	bucketA, bucketB := newBucketName("e2e-route-a"), newBucketName("e2e-route-b")
	keys := map[string]sessionCredentials{}
	for _, name := range []string{"a", "b"} {
		c, err := assumeRole(s, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeCredentialsFile(filepath.Join(home, "credentials-"+name), c, false); err != nil {
			t.Fatal(err)
		}
		keys[name] = c
	}
	if keys["a"].AccessKeyID == keys["b"].AccessKeyID {
		t.Fatal("MinIO gave the same session keys twice")
	}
	tokens := map[string]string{"app-a": "tok-e2e-route-a-7c41d9", "app-b": "tok-e2e-route-b-2f08e3"}
	var tokensFile strings.Builder
	for name, token := range tokens {
		sum := sha256.Sum256([]byte(token))
		fmt.Fprintf(&tokensFile, "%s %s\n", name, hex.EncodeToString(sum[:]))
	}
	if err := os.WriteFile(filepath.Join(home, "tokens"), []byte(tokensFile.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
region: %[1]s
service: s3
upstream: %[2]s
client-tokens-file: %[7]s
routes:
  - name: app-a
    match: {path: /%[3]s, clients: [app-a]}
    credentials: {credentials-file: %[4]s}
  - name: app-b
    match: {path: /%[5]s, clients: [app-b]}
    credentials: {credentials-file: %[6]s}
`, region, tp.url(), bucketA, filepath.Join(home, "credentials-a"), bucketB, filepath.Join(home, "credentials-b"), filepath.Join(home, "tokens"))
	configPath := filepath.Join(home, "gateway.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, sidecarEnv(home), "--config", configPath)
	apps := map[string]*app{}
	for name, token := range tokens {
		apps[name] = newApp(sc, fixedMode)
		apps[name].client.Transport = bearer{apps[name].client.Transport, token}
	}
	anonymous := newApp(sc, fixedMode)

	// Each route: create its bucket, write and read an object, list it.
	seen := 0
	for _, rc := range []struct{ bucket, key string }{{bucketA, "a"}, {bucketB, "b"}} {
		a := apps["app-"+rc.key]
		a.expect(t, a.request(t, http.MethodPut, rc.bucket, "", "", nil), http.StatusOK)
		if err := roundTrip(a, rc.bucket, "routed.txt", []byte("signed by route "+rc.key)); err != nil {
			t.Fatal(err)
		}
		got := tp.accessKeys()[seen:]
		seen += len(got)
		if len(got) == 0 {
			t.Fatalf("route %s: no signed request reached MinIO", rc.key)
		}
		for _, k := range got {
			if k != keys[rc.key].AccessKeyID {
				t.Fatalf("a request of route app-%s reached MinIO signed with %s, want only its own key %s", rc.key, k, keys[rc.key].AccessKeyID)
			}
		}
	}

	// A client on the other's route, or without a token: refused by the
	// proxy, nothing forwarded.
	for _, wrong := range []struct {
		app          *app
		client       string
		method       string
		bucket, code string
		status       int
	}{
		{apps["app-a"], "app-a", http.MethodGet, bucketB, "client_not_allowed", http.StatusForbidden},
		{apps["app-b"], "app-b", http.MethodPut, bucketA, "client_not_allowed", http.StatusForbidden},
		{anonymous, "", http.MethodGet, bucketA, "client_unauthenticated", http.StatusUnauthorized},
	} {
		var body io.Reader
		if wrong.method == http.MethodPut {
			body = strings.NewReader("not for this client")
		}
		resp, answer := wrong.app.do(t, wrong.app.request(t, wrong.method, wrong.bucket, "routed.txt", "", body))
		if resp.StatusCode != wrong.status || resp.Header.Get("X-Sigv4-Sidecar-Error") != wrong.code {
			t.Errorf("%s %s on %s: %d %q %s; want %d %s", wrong.client, wrong.method, wrong.bucket, resp.StatusCode, resp.Header.Get("X-Sigv4-Sidecar-Error"), answer, wrong.status, wrong.code)
		}
	}
	if n := len(tp.accessKeys()); n != seen {
		t.Errorf("MinIO received %d requests from clients on routes that do not admit them", n-seen)
	}

	// No route: refused by the proxy, nothing forwarded.
	a := apps["app-a"]
	resp, body := a.do(t, a.request(t, http.MethodGet, newBucketName("e2e-route-none"), "k", "", nil))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Sigv4-Sidecar-Error") != "no_route" || !strings.Contains(string(body), "no route takes host") {
		t.Errorf("no route: %d %q %s; want 403 no_route", resp.StatusCode, resp.Header.Get("X-Sigv4-Sidecar-Error"), body)
	}
	if n := len(tp.accessKeys()); n != seen {
		t.Errorf("MinIO received %d requests for a request no route takes", n-seen)
	}
	// Request lines are written in batches (--log-flush-interval).
	for deadline := time.Now().Add(10 * time.Second); logRecord(sc, "route", "app-b") == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no request log line carries route app-b:\n%s", sc.log.String())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !refusalLogged(sc, "app-b", "app-a"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line names route app-b and client app-a for the refusal:\n%s", sc.log.String())
		}
	}
	for _, c := range keys {
		assertNoSecrets(t, sc, c.SecretAccessKey, c.SessionToken)
	}
	for _, token := range tokens {
		assertNoSecrets(t, sc, token)
	}
	emptyBucket(t, apps["app-a"], bucketA)
	emptyBucket(t, apps["app-b"], bucketB)
}

// bearer sends every request with Authorization: Bearer token, as a client
// of a listener that authenticates clients by token.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// refusalLogged reports whether a request line refused client on route
// with client_not_allowed.
func refusalLogged(sc *sidecar, route, client string) bool {
	for _, line := range strings.Split(sc.log.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["route"] == route && rec["client"] == client && rec["error_code"] == "client_not_allowed" {
			return true
		}
	}
	return false
}
