//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRoutesSignWithTheirOwnKeys runs the proxy with two routes, each with
// its own credentials file holding its own MinIO session keys (two
// AssumeRole results), and no credentials at the top level: each route's
// requests reach MinIO signed with that route's keys, and only those, and
// verify; a request no route takes is answered 403 no_route and MinIO
// receives nothing.
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
	config := fmt.Sprintf(`
region: %[1]s
service: s3
upstream: %[2]s
routes:
  - name: app-a
    match: {path: /%[3]s}
    credentials: {credentials-file: %[4]s}
  - name: app-b
    match: {path: /%[5]s}
    credentials: {credentials-file: %[6]s}
`, region, tp.url(), bucketA, filepath.Join(home, "credentials-a"), bucketB, filepath.Join(home, "credentials-b"))
	configPath := filepath.Join(home, "gateway.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, sidecarEnv(home), "--config", configPath)
	a := newApp(sc, fixedMode)

	// Each route: create its bucket, write and read an object, list it.
	seen := 0
	for _, rc := range []struct{ bucket, key string }{{bucketA, "a"}, {bucketB, "b"}} {
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

	// No route: refused by the proxy, nothing forwarded.
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
	for _, c := range keys {
		assertNoSecrets(t, sc, c.SecretAccessKey, c.SessionToken)
	}
	emptyBucket(t, a, bucketA)
	emptyBucket(t, a, bucketB)
}
