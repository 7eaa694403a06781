package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// TestExplainSigV4aHost: explain of a Multi-Region Access Point request
// says SigV4a and the region set, prints a regionless scope, a string to
// sign under AWS4-ECDSA-P256-SHA256 and X-Amz-Region-Set signed and sent;
// the request it prints verifies with the signer's verifier for any region.
func TestExplainSigV4aHost(t *testing.T) {
	const host = "mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com"
	out, err := runExplainArgs(t, "--example-credentials", "--date", "20261207T120000Z", "-X", "PUT", "-d", "hello", "https://"+host+"/photos/a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Service:     s3\n",
		"Region:      none (a SigV4a scope has no region)\n",
		"Algorithm:   AWS4-ECDSA-P256-SHA256 (SigV4a)\n",
		"Region set:  * (X-Amz-Region-Set",
		"From:        endpoint rule s3-mrap\n",
		"Payload:     UNSIGNED-PAYLOAD",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	s := sections(out)
	if s["Scope"] != "20261207/s3/aws4_request" || !strings.Contains(s["Signed headers"], "x-amz-region-set") {
		t.Errorf("scope %q, signed headers %q", s["Scope"], s["Signed headers"])
	}
	if !strings.HasPrefix(s["String to sign"], "AWS4-ECDSA-P256-SHA256\n20261207T120000Z\n20261207/s3/aws4_request\n") {
		t.Errorf("string to sign %q", s["String to sign"])
	}
	if !strings.HasPrefix(s["Authorization"], "AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20261207/s3/aws4_request, ") {
		t.Errorf("Authorization %q", s["Authorization"])
	}
	if !strings.Contains(s["Headers sent"], "\nX-Amz-Region-Set: *") {
		t.Errorf("headers sent:\n%s", s["Headers sent"])
	}
	req := requestFromHeadersSent(t, s["Headers sent"], "https://"+host+"/photos/a.jpg", "hello")
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: exampleAccessKeyID, SecretAccessKey: exampleSecretAccessKey}, id == exampleAccessKeyID
	}
	if _, err := signer.New(nil).Verify(req, lookup, signer.VerifyOptions{
		Now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), Service: "s3", Region: "sa-east-1",
	}); err != nil {
		t.Errorf("the explained request does not verify: %v\n%s", err, out)
	}
}

// TestExplainRegionSet: --region-set signs a SigV4 host with SigV4a for its
// regions; --payload chunked, which SigV4a cannot sign, hashes the body as
// the proxy does; a bad entry is refused with the option's name.
func TestExplainRegionSet(t *testing.T) {
	out, err := runExplainArgs(t, "--example-credentials", "--date", "20261207T120000Z", "--region-set", "us-east-1,us-west-*",
		"--payload", "chunked", "-X", "PUT", "-d", "hello", "http://my-bucket.s3.us-west-2.amazonaws.com/key.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Region:      us-west-2 (not part of a SigV4a scope)\n",
		"Region set:  us-east-1,us-west-* (",
		"From:        endpoint rule s3-virtual-hosted, --region-set\n",
		"Payload:     SHA-256 of the 5-byte body",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if s := sections(out); s["Scope"] != "20261207/s3/aws4_request" || !strings.Contains(s["Headers sent"], "\nX-Amz-Region-Set: us-east-1,us-west-*") {
		t.Errorf("scope %q, headers sent:\n%s", s["Scope"], s["Headers sent"])
	}

	out, err = runExplainArgs(t, "--example-credentials", "https://sqs.us-east-1.amazonaws.com/")
	if err != nil || !strings.Contains(out, "Algorithm:   AWS4-HMAC-SHA256 (SigV4)\n") {
		t.Errorf("a SigV4 host: %v\n%s", err, out)
	}
	if out, err := runExplainArgs(t, "--example-credentials", "--region-set", "us-east-1,us east", "https://sqs.us-east-1.amazonaws.com/"); err == nil ||
		!strings.Contains(err.Error(), `invalid --region-set "us east"`) {
		t.Errorf("a bad --region-set: %v\n%s", err, out)
	}
}

// requestFromHeadersSent rebuilds the request explain printed.
func requestFromHeadersSent(t *testing.T, sent, url, body string) *http.Request {
	t.Helper()
	lines := strings.Split(sent, "\n")
	method, _, _ := strings.Cut(lines[0], " ")
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("header line %q in:\n%s", l, sent)
		}
		if name != "Host" && name != "Content-Length" {
			req.Header.Add(name, value)
		}
	}
	return req
}

// TestPresignSigV4aHost: a presigned URL for a Multi-Region Access Point is
// SigV4a, its region set in the query, and verifies for any region.
func TestPresignSigV4aHost(t *testing.T) {
	out, err := runPresignArgs(t, nil, "--example-credentials", "--date", "20261207T120000Z", "--expires", "10m",
		"https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/photos/a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, out, nil)
	if err != nil {
		t.Fatalf("presign printed %q: %v", out, err)
	}
	q := req.URL.Query()
	if q.Get("X-Amz-Algorithm") != signer.AlgorithmV4a || q.Get("X-Amz-Region-Set") != "*" || q.Get("X-Amz-Credential") != "AKIDEXAMPLE/20261207/s3/aws4_request" {
		t.Errorf("query %v", q)
	}
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: exampleAccessKeyID, SecretAccessKey: exampleSecretAccessKey}, id == exampleAccessKeyID
	}
	if _, err := signer.New(nil).Verify(req, lookup, signer.VerifyOptions{
		Now: time.Date(2026, 12, 7, 12, 5, 0, 0, time.UTC), Service: "s3", Region: "eu-north-1",
	}); err != nil {
		t.Errorf("the presigned URL does not verify: %v", err)
	}
}

// TestDemoSigV4aVerifiedWithCurl starts the demo with --region-set '*' and
// runs the curl line it prints: the proxy signs with SigV4a and the demo
// upstream verifies it with the signer's verifier, its region in the set.
func TestDemoSigV4aVerifiedWithCurl(t *testing.T) {
	curl, ok := installCurl(t)
	if !ok {
		t.Fatal("curl is required for this test and apt-get could not install it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, invocation{args: []string{"--listen", "127.0.0.1:0", "--region-set", "*"}, stdout: &stdout, stderr: &stderr})
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
		if m = curlLine.FindStringSubmatch(stdout.String()); m != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no curl line printed:\n%s\n%s", stdout.String(), stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("demo exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(stdout.String(), "signs every request with SigV4a (AWS4-ECDSA-P256-SHA256, region set *)") {
		t.Errorf("the demo does not say it signs with SigV4a:\n%s", stdout.String())
	}
	out, err := exec.Command(curl, "-s", "--noproxy", "*", m[1], "-d", "hi there").Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var a demoAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, out)
	}
	if !a.Verified || a.Algorithm != signer.AlgorithmV4a || a.RegionSet != "*" {
		t.Fatalf("verified %v (%s), algorithm %q, region set %q\n%s", a.Verified, a.Reason, a.Algorithm, a.RegionSet, out)
	}
	if !strings.HasSuffix(a.Scope, "/execute-api/aws4_request") || strings.Count(a.Scope, "/") != 2 || a.Headers["X-Amz-Region-Set"] != "*" ||
		!strings.HasSuffix(a.Headers["Authorization"], "Signature=<hidden>") {
		t.Errorf("scope %q, headers %v", a.Scope, a.Headers)
	}
}

// TestDemoUpstreamRefusesRegionOutsideSet: the demo upstream checks its
// region against a SigV4a signature's region set, as a service does.
func TestDemoUpstreamRefusesRegionOutsideSet(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil)
	keys := signer.Credentials{AccessKeyID: exampleAccessKeyID, SecretAccessKey: exampleSecretAccessKey}
	if _, err := signer.New(nil).Sign(req, keys, signer.Options{Service: "execute-api", Time: time.Now(), PayloadHash: signer.EmptyPayloadHash,
		Algorithm: signer.SigV4a, RegionSet: []string{"eu-*"}}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	(&demoUpstream{service: "execute-api", region: "us-east-1"}).ServeHTTP(rec, req)
	var a demoAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusForbidden || a.Verified || !strings.Contains(a.Reason, `X-Amz-Region-Set "eu-*" does not include "us-east-1"`) {
		t.Fatalf("status %d, answer %+v", rec.Code, a)
	}
	// The SigV4 diagnosis would call the algorithm, scope and signature
	// wrong; the verifier's reason is the answer.
	if len(a.Problems) != 0 {
		t.Errorf("problems %q for a SigV4a request", a.Problems)
	}
}

// TestCheckSigV4aEndpoint: check --endpoint says that a SigV4a host is
// signed with SigV4a and for which region set, instead of an empty region.
func TestCheckSigV4aEndpoint(t *testing.T) {
	srv, _ := stsStub(t, stubSecret, 0)
	out, err := runCheckArgs(t, "--credentials-file", credentialsFile(t), "--sts-endpoint", srv.URL, "--sts-region", "us-east-1",
		"--endpoint", "https://abcde.veo.endpoint.events.amazonaws.com/")
	if err != nil {
		t.Fatalf("check failed: %v\n%s", err, out)
	}
	if want := "signs as service events with SigV4a, region set * (endpoint rule events-global-endpoint)"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
