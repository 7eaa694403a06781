package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
)

// Test credentials. The secret and token must never appear in a log.
const (
	testKeyID  = "AKIDEXAMPLETESTKEY01"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testToken  = "FQoGZXIvYXdzEXAMPLESESSIONTOKENVALUE"
	// testKeyID2 is what a rotating staticSource hands out once invalidated.
	testKeyID2 = "AKIDEXAMPLETESTKEY02"
)

// staticSource is a creds.Source with fixed keys that counts invalidations.
type staticSource struct {
	mu          sync.Mutex
	c           creds.Credentials
	err         error
	invalidated []string
	rotate      bool // Invalidate switches to testKeyID2
}

func newStaticSource() *staticSource {
	return &staticSource{c: creds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken, Source: "test"}}
}

func (s *staticSource) Retrieve(context.Context) (creds.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c, s.err
}

func (s *staticSource) Invalidate(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, id)
	if s.rotate && id == s.c.AccessKeyID {
		s.c.AccessKeyID = testKeyID2
	}
}

var _ creds.Source = (*staticSource)(nil)

// received is what the test upstream saw of one request.
type received struct {
	Method, Host, Path, RawPath, RawQuery string
	Header                                http.Header
	ContentLength                         int64
	TransferEncoding                      []string
	Body                                  []byte // decoded (aws-chunked removed)
	Service, Region                       string
	PayloadHash                           string
	Chunks                                int
	ProtoMajor                            int
	KeyID                                 string
	VerifyErr                             error
}

// verifyingUpstream is an httptest server that checks the SigV4 signature of every
// request it receives, recomputing it independently with aws-sdk-go-v2's
// signer (and its stream signer for aws-chunked bodies).
type verifyingUpstream struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(w http.ResponseWriter, r *http.Request, rec received)
}

func (u *verifyingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

func (u *verifyingUpstream) last(t *testing.T) received {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.got[len(u.got)-1]
}

func (u *verifyingUpstream) handle(w http.ResponseWriter, r *http.Request) {
	rec := verifyRequest(r)
	u.mu.Lock()
	u.got = append(u.got, rec)
	respond := u.respond
	u.mu.Unlock()
	if respond != nil {
		respond(w, r, rec)
		return
	}
	if rec.VerifyErr != nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, "SignatureDoesNotMatch:", rec.VerifyErr)
		return
	}
	w.Header().Set("X-Amz-Request-Id", "REQ123")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Echo-Length", strconv.Itoa(len(rec.Body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("ok:" + rec.Method + ":" + rec.Path))
	}
}

// newUpstream starts a plain-HTTP verifying upstream.
func newUpstream(t *testing.T) *verifyingUpstream {
	u := &verifyingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(u.handle))
	t.Cleanup(u.Close)
	return u
}

// newTLSUpstream starts a verifying upstream over TLS whose certificate is
// valid for AWS-like names, and returns it with the path of its CA file.
func newTLSUpstream(t *testing.T) (*verifyingUpstream, string) {
	caPEM, cert := testCertificates(t)
	u := &verifyingUpstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(u.handle))
	u.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	u.EnableHTTP2 = true
	u.StartTLS()
	t.Cleanup(u.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return u, caFile
}

var certOnce struct {
	sync.Once
	caPEM []byte
	cert  tls.Certificate
	err   error
}

// testCertificates makes (once per test binary) a CA and a leaf certificate
// for the AWS host names the tests use.
func testCertificates(t *testing.T) ([]byte, tls.Certificate) {
	certOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certOnce.err = err
			return
		}
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigv4-sidecar test CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			certOnce.err = err
			return
		}
		ca, _ := x509.ParseCertificate(caDER)
		leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		leafTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "amazonaws.com"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			DNSNames: []string{"*.amazonaws.com", "*.us-east-1.amazonaws.com", "*.s3.us-east-1.amazonaws.com",
				"*.execute-api.us-east-1.amazonaws.com", "*.cluster-cxyz123.us-east-1.neptune.amazonaws.com", "localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
		if err != nil {
			certOnce.err = err
			return
		}
		certOnce.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
		certOnce.cert = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	})
	if certOnce.err != nil {
		t.Fatal(certOnce.err)
	}
	return certOnce.caPEM, certOnce.cert
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, fmt.Errorf("authorization %q: not AWS4-HMAC-SHA256", h)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return a, fmt.Errorf("credential %q: malformed", v)
			}
			a.keyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.keyID == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return a, fmt.Errorf("authorization %q: incomplete", h)
	}
	return a, nil
}

func isS3(service string) bool {
	switch service {
	case "s3", "s3-object-lambda", "s3-outposts", "s3express":
		return true
	}
	return false
}

// verifyRequest reads r's body and checks its signature with the SDK.
func verifyRequest(r *http.Request) received {
	body, readErr := io.ReadAll(r.Body)
	rec := received{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Body: body,
		ProtoMajor: r.ProtoMajor,
	}
	if readErr != nil {
		rec.VerifyErr = readErr
		return rec
	}
	rec.VerifyErr = func() error {
		a, err := parseAuthorization(r.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		rec.Service, rec.Region = a.service, a.region
		rec.KeyID = a.keyID
		if a.keyID != testKeyID && a.keyID != testKeyID2 {
			return fmt.Errorf("signed with key %q", a.keyID)
		}
		if r.Header.Get("X-Amz-Security-Token") != testToken {
			return errors.New("session token missing or wrong")
		}
		signingTime, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			return fmt.Errorf("X-Amz-Date: %v", err)
		}
		payloadHash := r.Header.Get("X-Amz-Content-Sha256")
		if isS3(a.service) && payloadHash == "" {
			return errors.New("S3 request without X-Amz-Content-Sha256")
		}
		sum := sha256.Sum256(body)
		switch payloadHash {
		case "":
			payloadHash = hex.EncodeToString(sum[:])
		case "UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
		default:
			if payloadHash != hex.EncodeToString(sum[:]) {
				return fmt.Errorf("X-Amz-Content-Sha256 %s does not match the body", payloadHash)
			}
		}
		rec.PayloadHash = payloadHash

		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		check := &http.Request{
			Method: r.Method, Host: r.Host, Header: http.Header{},
			URL: &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		}
		for _, name := range a.signedHeaders {
			switch name {
			case "host":
			case "content-length":
				check.ContentLength = r.ContentLength
			default:
				vals := r.Header.Values(name)
				if len(vals) == 0 {
					return fmt.Errorf("signed header %q not received", name)
				}
				check.Header[http.CanonicalHeaderKey(name)] = vals
			}
		}
		sdkCreds := aws.Credentials{AccessKeyID: a.keyID, SecretAccessKey: testSecret, SessionToken: testToken}
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = isS3(a.service) })
		if err := signer.SignHTTP(context.Background(), sdkCreds, check, payloadHash, a.service, a.region, signingTime); err != nil {
			return err
		}
		want, err := parseAuthorization(check.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		if strings.Join(want.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") {
			return fmt.Errorf("signed headers %v, SDK signs %v", a.signedHeaders, want.signedHeaders)
		}
		if want.signature != a.signature {
			return errors.New("signature does not match the SDK's")
		}
		if payloadHash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" {
			seed, _ := hex.DecodeString(a.signature)
			decoded, chunks, err := decodeChunked(body, v4.NewStreamSigner(sdkCreds, a.service, a.region, seed), signingTime)
			if err != nil {
				return fmt.Errorf("aws-chunked body: %v", err)
			}
			if got := r.Header.Get("X-Amz-Decoded-Content-Length"); got != strconv.Itoa(len(decoded)) {
				return fmt.Errorf("X-Amz-Decoded-Content-Length %s, decoded %d bytes", got, len(decoded))
			}
			rec.Body, rec.Chunks = decoded, chunks
		}
		return nil
	}()
	return rec
}

// decodeChunked decodes an aws-chunked body, checking each chunk signature.
func decodeChunked(body []byte, ss *v4.StreamSigner, t time.Time) ([]byte, int, error) {
	var out bytes.Buffer
	br := bufio.NewReader(bytes.NewReader(body))
	chunks := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, 0, fmt.Errorf("chunk header: %v", err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		sizeHex, sig, ok := strings.Cut(line, ";chunk-signature=")
		if !ok {
			return nil, 0, fmt.Errorf("chunk header %q", line)
		}
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, 0, err
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, 0, err
		}
		if crlf, _ := br.Peek(2); string(crlf) != "\r\n" {
			return nil, 0, errors.New("chunk not followed by CRLF")
		}
		br.Discard(2)
		want, _ := ss.GetSignature(context.Background(), nil, data, t)
		if hex.EncodeToString(want) != sig {
			return nil, 0, fmt.Errorf("chunk %d signature mismatch", chunks)
		}
		chunks++
		out.Write(data)
		if size == 0 {
			return out.Bytes(), chunks, nil
		}
	}
}

// testConfig is a Config with every default, as serve would build it.
func testConfig() Config {
	return Config{
		Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		Payload: PayloadAuto, BodyMemory: 8 << 20, MaxBody: 5 << 30, MaxHeaderBytes: 64 << 10,
		DialTimeout: 5 * time.Second, MaxIdleConnsPerHost: 8, MaxIdleConns: 256,
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second, ShutdownTimeout: 10 * time.Second,
		LogFormat: "json", LogLevel: "debug",
		Resilience: resilience.DefaultConfig(),
	}
}

// logBuffer collects JSON log lines, safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startProxy serves a Proxy for cfg on a loopback httptest server, logging
// at Debug, and fails the test if a secret reached its log.
func startProxy(t *testing.T, cfg Config, src creds.Source) (*httptest.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	// Registered first so that it runs last, after the server has closed.
	t.Cleanup(func() {
		for _, secret := range []string{testSecret, testToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log:\n%s", logs.String())
			}
		}
	})
	return serveProxy(t, cfg, src, logs, slog.LevelDebug), logs
}

// serveProxy serves a Proxy for cfg on a loopback httptest server that
// closes when t ends, logging to logs at level: a fuzz target's setup takes
// it at Warn, so that every input does not pay for Debug lines.
func serveProxy(t testing.TB, cfg Config, src creds.Source, logs *logBuffer, level slog.Level) *httptest.Server {
	t.Helper()
	p, err := New(cfg, src, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return srv
}

// rawRequest writes raw bytes to addr and returns the response.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// getViaHost sends a GET for url through the proxy with Host set to host,
// as a client of host mode does. The caller closes the body.
func getViaHost(t *testing.T, url, host string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
