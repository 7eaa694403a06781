package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// vectorDir is the official suite's copy in the signer's testdata.
const vectorDir = "../../signer/testdata/v4"

func readVector(t *testing.T, name, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sections splits explain's output into its "== Name" sections.
func sections(out string) map[string]string {
	m := map[string]string{}
	parts := strings.Split(out, "\n== ")
	for _, p := range parts[1:] {
		name, value, _ := strings.Cut(p, "\n")
		m[name] = strings.TrimSuffix(value, "\n")
	}
	return m
}

func runExplainArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runExplain(context.Background(), invocation{args: args, stdout: &stdout, stderr: &stderr})
	return stdout.String(), err
}

// TestExplainGetVanillaMatchesSuite: explain of the official suite's
// get-vanilla case prints its canonical request, string to sign and
// Authorization header byte for byte.
func TestExplainGetVanillaMatchesSuite(t *testing.T) {
	out, err := runExplainArgs(t, "--example-credentials", "--date", "20150830T123600Z",
		"--service", "service", "--region", "us-east-1", "https://example.amazonaws.com/")
	if err != nil {
		t.Fatal(err)
	}
	s := sections(out)
	if want := readVector(t, "get-vanilla", "header-canonical-request.txt"); s["Canonical request"] != want {
		t.Errorf("canonical request:\n%q\nwant\n%q", s["Canonical request"], want)
	}
	if want := readVector(t, "get-vanilla", "header-string-to-sign.txt"); s["String to sign"] != want {
		t.Errorf("string to sign:\n%q\nwant\n%q", s["String to sign"], want)
	}
	var wantAuthz string
	for _, line := range strings.Split(readVector(t, "get-vanilla", "header-signed-request.txt"), "\n") {
		if v, ok := strings.CutPrefix(line, "Authorization:"); ok {
			wantAuthz = v
		}
	}
	if wantAuthz == "" || s["Authorization"] != wantAuthz {
		t.Errorf("Authorization:\n%q\nwant\n%q", s["Authorization"], wantAuthz)
	}
	if s["Scope"] != "20150830/us-east-1/service/aws4_request" || s["Signed headers"] != "host;x-amz-date" {
		t.Errorf("scope %q, signed headers %q", s["Scope"], s["Signed headers"])
	}
	if strings.Contains(out, exampleSecretAccessKey) {
		t.Error("explain printed the secret access key")
	}
}

// TestExplainResolvesLikeTheProxy: without --service/--region the scope
// comes from the endpoint table; S3 over https signs UNSIGNED-PAYLOAD and
// sets X-Amz-Content-Sha256, as the proxy's auto payload mode does.
func TestExplainResolvesLikeTheProxy(t *testing.T) {
	out, err := runExplainArgs(t, "--example-credentials", "--date", "20150830T123600Z",
		"https://bedrock-runtime.eu-west-3.amazonaws.com/model/x/invoke", "-d", `{"a":1}`, "-H", "Content-Type: application/json", "-H", "User-Agent: app/1")
	if err != nil {
		t.Fatal(err)
	}
	s := sections(out)
	if s["Scope"] != "20150830/eu-west-3/bedrock/aws4_request" {
		t.Errorf("scope %q, want bedrock in eu-west-3", s["Scope"])
	}
	if s["Signed headers"] != "content-length;content-type;host;x-amz-date" {
		t.Errorf("signed headers %q (user-agent must stay unsigned)", s["Signed headers"])
	}
	if !strings.HasPrefix(s["Canonical request"], "POST\n/model/x/invoke\n") {
		t.Errorf("canonical request %q", s["Canonical request"])
	}

	out, err = runExplainArgs(t, "--example-credentials", "https://my-bucket.s3.us-west-2.amazonaws.com/key.txt", "-X", "PUT", "-d", "hello")
	if err != nil {
		t.Fatal(err)
	}
	s = sections(out)
	if !strings.Contains(s["Scope"], "/us-west-2/s3/aws4_request") || !strings.HasSuffix(s["Canonical request"], "\nUNSIGNED-PAYLOAD") ||
		!strings.Contains(s["Signed headers"], "x-amz-content-sha256") {
		t.Errorf("s3 over https: scope %q, signed headers %q, canonical request %q", s["Scope"], s["Signed headers"], s["Canonical request"])
	}
}

func TestExplainRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"--example-credentials"},
		{"--example-credentials", "ftp://example.amazonaws.com/"},
		{"--example-credentials", "--date", "yesterday", "https://sqs.us-east-1.amazonaws.com/"},
		{"--example-credentials", "-H", "no colon", "https://sqs.us-east-1.amazonaws.com/"},
		{"--example-credentials", "https://example.com/"}, // no service or region derivable
	} {
		if out, err := runExplainArgs(t, args...); err == nil {
			t.Errorf("explain %q succeeded:\n%s", args, out)
		}
	}
}

// TestExplainPayloadModeIsTheProxys: explain chooses how a body is signed
// with the proxy's own rule (sidecar.Config.PayloadMode): in auto mode an
// S3 upload over http that fits in --body-memory is hashed, not
// aws-chunked, and --payload chunked is for PutObject/UploadPart only.
// explain's own copy of the rule chunk-signed every S3 body over http.
func TestExplainPayloadModeIsTheProxys(t *testing.T) {
	helloHash := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // SHA-256 of "hello"
	for _, tc := range []struct {
		name string
		args []string
		want string // the canonical request's last line
	}{
		{"auto, small s3 upload over http", []string{"-X", "PUT", "http://my-bucket.s3.us-west-2.amazonaws.com/key.txt"}, helloHash},
		{"chunked, s3 upload", []string{"--payload", "chunked", "-X", "PUT", "http://my-bucket.s3.us-west-2.amazonaws.com/key.txt"}, signer.StreamingPayload},
		{"chunked, s3 tagging", []string{"--payload", "chunked", "-X", "PUT", "http://my-bucket.s3.us-west-2.amazonaws.com/key.txt?tagging"}, helloHash},
		{"auto, s3 over https", []string{"-X", "PUT", "https://my-bucket.s3.us-west-2.amazonaws.com/key.txt"}, signer.UnsignedPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runExplainArgs(t, append([]string{"--example-credentials", "--date", "20150830T123600Z", "-d", "hello"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			cr := sections(out)["Canonical request"]
			if got := cr[strings.LastIndex(cr, "\n")+1:]; got != tc.want {
				t.Errorf("payload hash %q, want %q\n%s", got, tc.want, out)
			}
		})
	}
}

// TestExplainWithConfiguredCredentials: without --example-credentials,
// explain signs with the credentials the proxy would load (here a shared
// credentials file with a session token). The request it prints verifies
// with that secret, and neither the secret nor the session token is printed.
func TestExplainWithConfiguredCredentials(t *testing.T) {
	const token = "explain-session-token/FwoGZXIvYXdzEXAMPLE"
	p := filepath.Join(t.TempDir(), "credentials")
	content := "[default]\naws_access_key_id = " + stubAccessKey + "\naws_secret_access_key = " + stubSecret + "\naws_session_token = " + token + "\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runExplainArgs(t, "--credentials-file", p, "--date", "20261122T140000Z",
		"-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded", "-d", "Action=ListQueues",
		"https://sqs.eu-west-1.amazonaws.com/")
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	if strings.Contains(out, stubSecret) || strings.Contains(out, token) {
		t.Fatalf("explain printed the secret or the session token:\n%s", out)
	}
	if !strings.Contains(out, "access key id "+stubAccessKey) || strings.Contains(out, "AKIDEXAMPLE") {
		t.Errorf("explain did not sign with the configured key:\n%s", out)
	}
	s := sections(out)
	if s["Scope"] != "20261122/eu-west-1/sqs/aws4_request" || !strings.Contains(s["Signed headers"], "x-amz-security-token") {
		t.Errorf("scope %q, signed headers %q", s["Scope"], s["Signed headers"])
	}
	// Rebuild the request from "Headers sent", the token put back, and
	// verify it as AWS would with the configured secret.
	lines := strings.Split(s["Headers sent"], "\n")
	req, err := http.NewRequest("POST", "https://sqs.eu-west-1.amazonaws.com/", strings.NewReader("Action=ListQueues"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("header line %q in:\n%s", l, s["Headers sent"])
		}
		switch name {
		case "Host", "Content-Length":
			continue
		}
		req.Header.Add(name, strings.ReplaceAll(value, "<session token>", token))
	}
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: stubAccessKey, SecretAccessKey: stubSecret, SessionToken: token}, id == stubAccessKey
	}
	if _, err := signer.New(nil).Verify(req, lookup, signer.VerifyOptions{
		Now: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC), Service: "sqs", Region: "eu-west-1", HashBody: true,
	}); err != nil {
		t.Errorf("the explained request does not verify with the configured secret: %v\n%s", err, out)
	}
}
