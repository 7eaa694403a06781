package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// TestCAInitWritesAShortLivedCAAndRefusesToOverwrite: `ca init DIR` writes
// ca.crt and ca.key (mode 0600), a CA for --days (30 by default), says how
// long it lasts, and refuses to overwrite an existing one.
func TestCAInitWritesAShortLivedCAAndRefusesToOverwrite(t *testing.T) {
	for _, tc := range []struct {
		args []string
		days int
	}{{nil, 30}, {[]string{"--days", "7"}, 7}} {
		dir := filepath.Join(t.TempDir(), "ca")
		var out bytes.Buffer
		if err := runEnv(context.Background(), append([]string{"ca", "init", dir}, tc.args...), nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if want := "valid for " + map[int]string{30: "30", 7: "7"}[tc.days] + " days, until "; !strings.Contains(out.String(), want) {
			t.Errorf("output does not state the lifetime (%q):\n%s", want, out.String())
		}
		st, err := os.Stat(filepath.Join(dir, "ca.key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("ca.key: %v %v, want mode 0600", st, err)
		}
		certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Duration(tc.days) * 24 * time.Hour
		if left := time.Until(cert.NotAfter); !cert.IsCA || left > want || left < want-time.Minute {
			t.Errorf("IsCA %v, valid %v more, want a CA for %v", cert.IsCA, left, want)
		}
		if !strings.Contains(out.String(), cert.NotAfter.UTC().Format(time.RFC3339)) {
			t.Errorf("output does not name the end date %s:\n%s", cert.NotAfter.UTC().Format(time.RFC3339), out.String())
		}
		err = runEnv(context.Background(), []string{"ca", "init", dir}, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
			t.Errorf("second ca init: %v, want a refusal", err)
		}
		if again, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); !bytes.Equal(again, certPEM) {
			t.Error("the CA was overwritten")
		}
	}
	for _, args := range [][]string{{"ca"}, {"ca", "init"}, {"ca", "init", t.TempDir(), "--days", "0"}} {
		if err := runEnv(context.Background(), args, nil, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestHTTPSProxyWithCurl: curl with -x (the proxy) and --cacert (the CA
// from ca init) reaches an https URL of an AWS host through a CONNECT
// tunnel; the upstream (--connect-to, TLS) verifies the signature with the
// package signer's verifier and the proxy's keys. curl's own SigV4
// signature with other keys (--aws-sigv4) is replaced by the proxy's, as
// for any request that already carries Authorization.
func TestHTTPSProxyWithCurl(t *testing.T) {
	curl, ok := installCurl(t)
	if !ok {
		t.Fatal("curl is required for this test and apt-get could not install it")
	}
	setStaticKeys(t)
	dir := t.TempDir()
	upCA := filepath.Join(dir, "upstream-ca.pem")
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := signer.New(signer.NewKeyCache(0)).Verify(r, func(id string) (signer.Credentials, bool) {
			return signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}, id == testKeyID
		}, signer.VerifyOptions{Now: time.Now(), Service: "sqs", Region: "us-east-1", HashBody: true})
		body, _ := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "not verified: "+err.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, "verified "+r.Host+" "+string(body))
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{wildcardCertificate(t, upCA, "sqs.us-east-1.amazonaws.com")}}
	up.StartTLS()
	t.Cleanup(up.Close)

	caDir := filepath.Join(dir, "mitm")
	if err := runEnv(context.Background(), []string{"ca", "init", caDir}, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	line, _, _ := serveInProcess(t, []string{"--allow-hosts", "*.us-east-1.amazonaws.com",
		"--connect-to", "sqs.us-east-1.amazonaws.com:443=" + up.Listener.Addr().String(), "--upstream-ca-file", upCA,
		"--mitm-ca-cert", filepath.Join(caDir, "ca.crt"), "--mitm-ca-key", filepath.Join(caDir, "ca.key")}, nil)
	proxy := "http://" + line["proxy_addr"].(string)

	curlRun := func(args ...string) (string, error) {
		cmd := exec.Command(curl, append([]string{"-sS", "--max-time", "20", "-x", proxy, "--cacert", filepath.Join(caDir, "ca.crt")}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, extra := range [][]string{nil, {"--aws-sigv4", "aws:amz:us-east-1:sqs", "--user", "AKIDCLIENTKEY0000000:client-secret-worth-nothing"}} {
		out, err := curlRun(append([]string{"https://sqs.us-east-1.amazonaws.com/?Action=SendMessage", "-d", "MessageBody=hi"}, extra...)...)
		if err != nil || out != "verified sqs.us-east-1.amazonaws.com MessageBody=hi" {
			t.Errorf("curl %v: %v\n%s", extra, err, out)
		}
	}
	out, err := curlRun("https://sqs.eu-west-1.amazonaws.com/")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("curl to a host outside --allow-hosts: %v\n%s, want the CONNECT refused with 403", err, out)
	}
}
