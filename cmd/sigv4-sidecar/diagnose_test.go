package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
)

func runDiagnoseArgs(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runDiagnose(context.Background(), invocation{args: args, stdout: &stdout, stderr: &stderr})
	code := 0
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("diagnose %q: %v", args, err)
		}
		code = ee.code
	}
	return stdout.String() + stderr.String(), code
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// versitygwError is a SignatureDoesNotMatch body as versitygw's s3err writes it.
func versitygwError(canonical, stringToSign string) string {
	esc := func(s string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\n", "&#xA;").Replace(s)
	}
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>` +
		`<AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>` + esc(stringToSign) + `</StringToSign><SignatureProvided>5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31</SignatureProvided>` +
		`<CanonicalRequest>` + esc(canonical) + `</CanonicalRequest><RequestId>R1</RequestId><HostId>H1</HostId></Error>`
}

func TestDiagnoseCommandCraftedHeader(t *testing.T) {
	authz := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request SignedHeaders=host;x-amz-date Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	out, code := runDiagnoseArgs(t, "--authorization", authz, "--amz-date", "20150830T123600Z")
	if code != 1 || !strings.Contains(out, "[missing-comma]") || !strings.Contains(out, "fix: separate the components with commas") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") {
		t.Fatalf("output shows the signature:\n%s", out)
	}
	out, code = runDiagnoseArgs(t, "--authorization", strings.ReplaceAll(authz, " SignedHeaders", ", SignedHeaders"), "--amz-date", "20150830T123600Z", "--now", "20150830T140000Z")
	if code != 1 || !strings.Contains(out, "[missing-comma]") || !strings.Contains(out, "[signature-expired]") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestDiagnoseCommandCleanRequest(t *testing.T) {
	raw := readVector(t, "get-vanilla", "header-signed-request.txt")
	req := writeTemp(t, "req.txt", raw)
	out, code := runDiagnoseArgs(t, "--request", req, "--service", "service", "--region", "us-east-1", "--now", "20150830T124000Z")
	if code != 0 || !strings.Contains(out, "no problems found") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = runDiagnoseArgs(t, "--request", req, "--service", "sqs", "--region", "eu-west-1")
	if code != 1 || !strings.Contains(out, "[wrong-region]") || !strings.Contains(out, "[wrong-service]") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// The server (versitygw's body format) computed another query string: the
// diff shows it and diagnose names the query as the first differing part.
func TestDiagnoseCommandDiffAgainstServer(t *testing.T) {
	raw := "GET /?list-type=2&prefix=a HTTP/1.1\n" +
		"Host: example.amazonaws.com\n" +
		"X-Amz-Date: 20150830T123600Z\n" +
		"X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n\n"
	ours := "GET\n/\nlist-type=2&prefix=a\nhost:example.amazonaws.com\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20150830T123600Z\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"
	server := strings.Replace(ours, "list-type=2&prefix=a", "list-type=2&prefix=a%2F", 1)
	body := writeTemp(t, "err.xml", versitygwError(server, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/s3/aws4_request\n0000"))
	out, code := runDiagnoseArgs(t, "--request", writeTemp(t, "req.txt", raw), "--error-body", body, "--service", "s3", "--region", "us-east-1")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"[canonical-query-differs]", "first difference: query", "- list-type=2&prefix=a%2F\n+ list-type=2&prefix=a\n", "server said: SignatureDoesNotMatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[signature-mismatch]") {
		t.Errorf("generic cause kept beside the specific one:\n%s", out)
	}
}

// The server computed our very string to sign: the secret is wrong.
func TestDiagnoseCommandWrongSecret(t *testing.T) {
	raw := readVector(t, "get-vanilla", "header-signed-request.txt")
	body := versitygwError(readVector(t, "get-vanilla", "header-canonical-request.txt"), readVector(t, "get-vanilla", "header-string-to-sign.txt"))
	out, code := runDiagnoseArgs(t, "--request", writeTemp(t, "req.txt", raw), "--error-body", writeTemp(t, "err.xml", body), "--service", "service", "--region", "us-east-1")
	if code != 1 || !strings.Contains(out, "["+string(diagnose.CodeWrongSecret)+"]") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "canonical request, server's") {
		t.Fatalf("a diff of identical canonical requests:\n%s", out)
	}
}

func TestDiagnoseCommandBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"--request", filepath.Join(t.TempDir(), "missing")},
		{"--request", writeTemp(t, "junk", "not http at all")},
		{"--authorization", "AWS4-HMAC-SHA256 x", "--error-body", writeTemp(t, "e", "<html>oops</html>")},
		{"--authorization", "x", "--now", "soon"},
		{"stray"},
	} {
		if out, code := runDiagnoseArgs(t, args...); code != 2 {
			t.Errorf("diagnose %q: exit %d, want 2\n%s", args, code, out)
		}
	}
}

// TestDiagnoseCommandReadsStdin: with neither --request nor
// --authorization, diagnose reads the raw request from the invocation's
// stdin (the process's only through main), and --error-body - reads the
// error body from it.
func TestDiagnoseCommandReadsStdin(t *testing.T) {
	raw := readVector(t, "get-vanilla", "header-signed-request.txt")
	var stdout, stderr bytes.Buffer
	err := runDiagnose(context.Background(), invocation{
		args:  []string{"--service", "sqs", "--region", "eu-west-1"},
		stdin: strings.NewReader(raw), stdout: &stdout, stderr: &stderr,
	})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(stdout.String(), "[wrong-service]") {
		t.Fatalf("err = %v, want exit 1 with [wrong-service]:\n%s%s", err, stdout.String(), stderr.String())
	}

	body := versitygwError(readVector(t, "get-vanilla", "header-canonical-request.txt"), readVector(t, "get-vanilla", "header-string-to-sign.txt"))
	stdout.Reset()
	err = runDiagnose(context.Background(), invocation{
		args:  []string{"--request", writeTemp(t, "req.txt", raw), "--error-body", "-", "--service", "service", "--region", "us-east-1"},
		stdin: strings.NewReader(body), stdout: &stdout, stderr: &stderr,
	})
	if !strings.Contains(stdout.String(), "server said: SignatureDoesNotMatch") {
		t.Fatalf("err = %v; the error body on stdin was not read:\n%s%s", err, stdout.String(), stderr.String())
	}
}
