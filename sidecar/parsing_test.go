package sidecar

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestHostPortWithSignIsRefused: strconv.Atoi reads "+443" as 443, so
// "Host: sqs.us-east-1.amazonaws.com:+443" passed the allow check while the
// dialler looked up port "+443", which the rule for port 443 did not match:
// the catch-all rule's upstream got the signed request. A port is 1 to 5
// ASCII digits, 1-65535, read once for the allow check, the --connect-to
// match and the dialler.
func TestHostPortWithSignIsRefused(t *testing.T) {
	aws, other := newUpstream(t), newUpstream(t)
	cfg := testConfig()
	cfg.ConnectTo = []string{
		"*.amazonaws.com:443=http://" + aws.Listener.Addr().String(),
		":=http://" + other.Listener.Addr().String(),
	}
	proxy, _ := startProxy(t, cfg, newStaticSource())
	for _, host := range []string{"sqs.us-east-1.amazonaws.com:+443", "sqs.us-east-1.amazonaws.com:-443", "sqs.us-east-1.amazonaws.com:443 ", "sqs.us-east-1.amazonaws.com:004430", "sqs.us-east-1.amazonaws.com:0"} {
		resp := getViaHost(t, proxy.URL+"/123456789012/q", host)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBadHost {
			t.Errorf("Host %q: status %d %q (%s), want 400 %s", host, resp.StatusCode, resp.Header.Get(ErrorHeader), body, CodeBadHost)
		}
	}
	if aws.count() != 0 || other.count() != 0 {
		t.Fatalf("refused hosts reached an upstream: %d + %d requests", aws.count(), other.count())
	}
	// Leading zeros are digits: 00443 is port 443 for every reader.
	for _, host := range []string{"sqs.us-east-1.amazonaws.com:443", "sqs.us-east-1.amazonaws.com:00443"} {
		resp := getViaHost(t, proxy.URL+"/123456789012/q", host)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || aws.count() == 0 {
			t.Fatalf("Host %q: status %d, want 200 from the *.amazonaws.com:443 rule's upstream", host, resp.StatusCode)
		}
		if got := aws.last(t); got.VerifyErr != nil || got.Host != "sqs.us-east-1.amazonaws.com" {
			t.Errorf("Host %q: upstream saw Host %q: %v", host, got.Host, got.VerifyErr)
		}
	}
	if other.count() != 0 {
		t.Errorf("the catch-all rule's upstream got %d requests", other.count())
	}
}

// TestUpstreamCAFileLargerThan1MiBIsRefused: --upstream-ca-file /dev/zero
// ended the start in "fatal error: out of memory". The file is read up to
// 1 MiB; beyond, the start fails naming the option and the limit.
func TestUpstreamCAFileLargerThan1MiBIsRefused(t *testing.T) {
	big := filepath.Join(t.TempDir(), "ca.pem")
	pem := "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ2F0ZXdheXRlc3RjZXJ0aWZpY2F0ZTAKBggqhkjOPQQD\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(big, []byte(strings.Repeat(pem, 2<<20/len(pem)+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{big, "/dev/zero"} {
		cfg := testConfig()
		cfg.UpstreamCAFile = path
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), `invalid --upstream-ca-file "`+path+`"`) || !strings.Contains(err.Error(), "larger than 1 MiB") {
			t.Fatalf("--upstream-ca-file %s: %v, want an error naming the 1 MiB limit", path, err)
		}
	}
}

// TestUnsignedChunkedBodyOverMaxBodyNamesLimit: with --payload unsigned, a
// chunked body over --max-body was answered 413 "--max-body (0)" whenever
// the reads before the one that crossed the limit ended exactly on it: the
// message gave what that read had left, not the limit.
func TestUnsignedChunkedBodyOverMaxBodyNamesLimit(t *testing.T) {
	// TestLimitedBodyNamesLimit holds the read-by-read case.
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "execute-api", "us-east-1"
	cfg.Payload, cfg.MaxBody = PayloadUnsigned, 1024
	proxy, _ := startProxy(t, cfg, newStaticSource())
	req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/prod/items", iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 4096))))
	req.ContentLength = -1 // chunked
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "--max-body (1KiB)") {
		t.Errorf("status %d %s, want 413 naming --max-body (1KiB)", resp.StatusCode, msg)
	}
}

// TestConnectToPlainHTTPWithHTTPSUpstream: with --upstream https://NAME, a
// rule NAME:443=http://ADDR was dialled but spoken to in TLS ("first record
// does not look like a TLS handshake"). The rule decides the scheme, as in
// host mode, and the Host signed and sent is still NAME.
func TestConnectToPlainHTTPWithHTTPSUpstream(t *testing.T) {
	up := newUpstream(t)
	for _, rule := range []string{"sqs.us-east-1.amazonaws.com:443=http://", "*.amazonaws.com:=http://"} {
		cfg := testConfig()
		cfg.Upstream = "https://sqs.us-east-1.amazonaws.com"
		cfg.ConnectTo = []string{rule + up.Listener.Addr().String()}
		proxy, _ := startProxy(t, cfg, newStaticSource())
		resp, err := http.Get(proxy.URL + "/123456789012/q?Action=GetQueueAttributes")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || up.count() == 0 {
			t.Fatalf("--connect-to %s: status %d (%s), want 200 from the plain-HTTP address", rule, resp.StatusCode, body)
		}
		if got := up.last(t); got.VerifyErr != nil || got.Host != "sqs.us-east-1.amazonaws.com" || got.Service != "sqs" {
			t.Errorf("--connect-to %s: upstream saw Host %q, service %q: %v", rule, got.Host, got.Service, got.VerifyErr)
		}
	}
}
