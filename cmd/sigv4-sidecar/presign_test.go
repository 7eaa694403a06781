package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

func runPresignArgs(t *testing.T, environ []string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runPresign(context.Background(), invocation{args: args, environ: environ, stdout: &stdout, stderr: &stderr})
	return strings.TrimSpace(stdout.String()), err
}

// TestPresignGetVanillaMatchesSuite: presign of the official suite's
// get-vanilla case (query variant, 3600 s) gives the suite's signature.
func TestPresignGetVanillaMatchesSuite(t *testing.T) {
	out, err := runPresignArgs(t, nil, "--example-credentials", "--date", "20150830T123600Z", "--expires", "1h",
		"--service", "service", "--region", "us-east-1", "https://example.amazonaws.com/")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(out)
	if err != nil {
		t.Fatalf("presign printed %q: %v", out, err)
	}
	q := u.Query()
	if want := readVector(t, "get-vanilla", "query-signature.txt"); q.Get("X-Amz-Signature") != want {
		t.Errorf("X-Amz-Signature %q, want the suite's %q", q.Get("X-Amz-Signature"), want)
	}
	if q.Get("X-Amz-Expires") != "3600" || q.Get("X-Amz-Credential") != "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request" {
		t.Errorf("query %v", q)
	}
}

// TestPresignedURLVerifies: an S3 URL presigned with session credentials
// from a credentials file resolves service and region from the host as the
// proxy does, carries the token, and verifies with those keys.
func TestPresignedURLVerifies(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "credentials")
	const token = "presign-session-token"
	if err := os.WriteFile(file, []byte("[default]\naws_access_key_id = "+testKeyID+"\naws_secret_access_key = "+testSecret+"\naws_session_token = "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none")}
	signed := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	out, err := runPresignArgs(t, env, "--credentials-file", file, "-X", "PUT", "--expires", "10m",
		"--date", signed.Format(time.RFC3339), "https://my-bucket.s3.eu-west-1.amazonaws.com/reports/a b+c.csv")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, testSecret) {
		t.Fatal("presign printed the secret access key")
	}
	req, err := http.NewRequest(http.MethodPut, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	if q.Get("X-Amz-Security-Token") != token || !strings.Contains(q.Get("X-Amz-Credential"), "/eu-west-1/s3/aws4_request") {
		t.Errorf("query %v", q)
	}
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: token}, id == testKeyID
	}
	opts := signer.VerifyOptions{Now: signed.Add(5 * time.Minute), Service: "s3", Region: "eu-west-1"}
	if _, err := signer.New(nil).Verify(req, lookup, opts); err != nil {
		t.Errorf("presigned URL does not verify: %v", err)
	}
	// The same URL once expired, or used with another method, is refused.
	opts.Now = signed.Add(11 * time.Minute)
	if _, err := signer.New(nil).Verify(req, lookup, opts); err == nil {
		t.Error("an expired presigned URL verified")
	}
	get, _ := http.NewRequest(http.MethodGet, out, nil)
	opts.Now = signed.Add(time.Minute)
	if _, err := signer.New(nil).Verify(get, lookup, opts); err == nil {
		t.Error("a URL presigned for PUT verified for GET")
	}
}

func TestPresignRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--example-credentials", "--expires", "169h", "https://sqs.us-east-1.amazonaws.com/"}, "invalid --expires 169h0m0s"},
		{[]string{"--example-credentials", "--expires", "0s", "https://sqs.us-east-1.amazonaws.com/"}, "invalid --expires 0s"},
		{[]string{"--example-credentials"}, "exactly one URL"},
		{[]string{"--example-credentials", "ftp://x/"}, `invalid URL "ftp://x/"`},
		{[]string{"--example-credentials", "https://example.com/"}, "--service"},
	} {
		_, err := runPresignArgs(t, nil, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("presign %v: error %v, want it to name %q", tc.args, err, tc.want)
		}
		var ee *exitError
		if err != nil && strings.HasPrefix(tc.want, "invalid") && !errors.As(err, &ee) {
			t.Errorf("presign %v: %v is not a usage error", tc.args, err)
		}
	}
}
