package sidecar

import (
	"bufio"
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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// testCA is a certificate authority minted for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	ca := &testCA{}
	ca.cert, ca.key, ca.pem, _ = mint(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	return ca
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issued is a certificate with its key, as PEM and as crypto/tls takes it.
type issued struct {
	cert            *x509.Certificate
	certPEM, keyPEM []byte
	tls             tls.Certificate
}

// issue signs a leaf for tmpl: a server certificate for 127.0.0.1 when tmpl
// names no identity, a client certificate otherwise.
func (ca *testCA) issue(t testing.TB, tmpl *x509.Certificate) issued {
	t.Helper()
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	var out issued
	out.cert, _, out.certPEM, out.keyPEM = mint(t, tmpl, ca.cert, ca.key)
	var err error
	if out.tls, err = tls.X509KeyPair(out.certPEM, out.keyPEM); err != nil {
		t.Fatal(err)
	}
	return out
}

func (ca *testCA) serverCert(t testing.TB) issued {
	return ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "proxy"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

func (ca *testCA) clientCert(t testing.TB, spiffeID string) issued {
	u, err := url.Parse(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	return ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ignored-cn"}, URIs: []*url.URL{u}})
}

func mint(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// tokensFile returns a tokens file's text for name=token pairs.
func tokensFile(pairs ...string) []byte {
	var b strings.Builder
	b.WriteString("# NAME SHA256-HEX-OF-TOKEN\n")
	for i := 0; i < len(pairs); i += 2 {
		sum := sha256.Sum256([]byte(pairs[i+1]))
		b.WriteString(pairs[i] + " " + hex.EncodeToString(sum[:]) + "\n")
	}
	return []byte(b.String())
}

// secretDir lays files out as a Kubernetes Secret volume does: each name
// is a symlink through ..data, and an update swaps ..data in one rename.
type secretDir struct {
	t   testing.TB
	dir string
	n   int
}

func newSecretDir(t testing.TB, files map[string][]byte) *secretDir {
	d := &secretDir{t: t, dir: t.TempDir()}
	d.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(d.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d *secretDir) path(name string) string { return filepath.Join(d.dir, name) }

func (d *secretDir) update(files map[string][]byte) {
	d.n++
	version := fmt.Sprintf("..v%d", d.n)
	if err := os.Mkdir(filepath.Join(d.dir, version), 0o700); err != nil {
		d.t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(d.dir, version, name), data, 0o600); err != nil {
			d.t.Fatal(err)
		}
	}
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		d.t.Fatal(err)
	}
}

// runListener runs a Server with cfg, its listener files checked every
// 10ms, and returns the proxy address and the log.
func runListener(t *testing.T, cfg Config) (string, *logBuffer) {
	t.Helper()
	addr, _, logs := runListenerWith(t, cfg, nil)
	return addr, logs
}

// runListenerWith is runListener with telemetry (nil: none), and returns
// the admin address too.
func runListenerWith(t *testing.T, cfg Config, tel *telemetry.Options) (addr, adminAddr string, logs *logBuffer) {
	t.Helper()
	logs = &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	srv := &Server{
		Config: cfg, Credentials: newStaticSource(), ReloadInterval: 10 * time.Millisecond, Telemetry: tel,
		Log:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Listening: func(p, a net.Addr) { ready <- [2]string{p.String(), a.String()} },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case a := <-ready:
		addr, adminAddr = a[0], a[1]
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
		for _, secret := range []string{testSecret, testToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log")
			}
		}
	})
	return addr, adminAddr, logs
}

// tlsClient returns an HTTP client speaking proto ("http1" or "http2")
// over TLS, trusting serverCA, presenting certs[0] when given.
func tlsClient(serverCA *testCA, proto string, certs ...tls.Certificate) *http.Client {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: serverCA.pool()},
		Protocols:       new(http.Protocols),
	}
	if len(certs) > 0 {
		// Sent whatever CAs the server names (crypto/tls would withhold a
		// certificate from another CA, and the server never see it).
		tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	tr.Protocols.SetHTTP1(proto == "http1")
	tr.Protocols.SetHTTP2(proto == "http2")
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// fixedListenerConfig is a Config in fixed mode to up with the listener
// options l.
func fixedListenerConfig(up string) Config {
	cfg := testConfig()
	cfg.Upstream = up
	cfg.Service, cfg.Region = "execute-api", "us-east-1"
	return cfg
}

func wantUnauthenticated(t *testing.T, resp *http.Response, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(ErrorHeader) != CodeClientUnauthenticated {
		t.Fatalf("status %d %s %q, want 401 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body, CodeClientUnauthenticated)
	}
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer (RFC 9110 section 15.5.2): %v", resp.Header)
	}
}

// TestListenerMutualTLS: a client certificate signed by --client-ca-file is
// admitted and named by its URI SAN in the log; an expired one or one from
// another CA fails the handshake, and a client without one gets 401
// client_unauthenticated; in none of these does the upstream receive
// anything. Over HTTP/1.1 and HTTP/2.
func TestListenerMutualTLS(t *testing.T) {
	up := newUpstream(t)
	serverCA, clientCA, otherCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca"), newTestCA(t, "other-ca")
	serving := serverCA.serverCert(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = write("tls.crt", serving.certPEM), write("tls.key", serving.keyPEM)
	cfg.Listener.ClientCAFile = write("ca.crt", clientCA.pem)
	addr, logs := runListener(t, cfg)

	const id = "spiffe://cluster.local/ns/shop/sa/orders"
	valid := clientCA.clientCert(t, id)
	expired := clientCA.issue(t, &x509.Certificate{DNSNames: []string{"old.shop"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	foreign := otherCA.clientCert(t, "spiffe://elsewhere/ns/x/sa/y")

	for _, proto := range []string{"http1", "http2"} {
		t.Run(proto, func(t *testing.T) {
			url := "https://" + addr + "/prod/orders?proto=" + proto
			resp, err := tlsClient(serverCA, proto, valid.tls).Get(url)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != map[string]int{"http1": 1, "http2": 2}[proto] {
				t.Fatalf("valid certificate: %d over %s, want 200 over %s", resp.StatusCode, resp.Proto, proto)
			}
			if got := up.last(t); got.VerifyErr != nil || got.RawQuery != "proto="+proto {
				t.Fatalf("upstream got %q, verify error %v", got.RawQuery, got.VerifyErr)
			}
			if !strings.Contains(logs.String(), `"client":"`+id+`"`) {
				t.Errorf("the request log does not name the client %s:\n%s", id, logs)
			}

			before := up.count()
			for name, cert := range map[string]tls.Certificate{"expired": expired.tls, "wrong CA": foreign.tls} {
				resp, err := tlsClient(serverCA, proto, cert).Get(url)
				if err == nil {
					resp.Body.Close()
					t.Errorf("%s certificate: answered %d, want a failed handshake", name, resp.StatusCode)
				}
			}
			resp, err = tlsClient(serverCA, proto).Get(url)
			wantUnauthenticated(t, resp, err)
			if n := up.count(); n != before {
				t.Errorf("the upstream received %d requests from clients that were refused", n-before)
			}
		})
	}
	if !strings.Contains(logs.String(), "TLS handshake failed") {
		t.Errorf("a refused client certificate left no log line:\n%s", logs)
	}
}

// TestListenerBearerTokens: a token from --client-tokens-file, in
// Authorization or Proxy-Authorization, is admitted under its name and never
// forwarded nor logged; a wrong or missing one gets 401 and nothing reaches
// the upstream. Over TLS with HTTP/1.1 and HTTP/2.
func TestListenerBearerTokens(t *testing.T) {
	up := newUpstream(t)
	serverCA := newTestCA(t, "server-ca")
	serving := serverCA.serverCert(t)
	const token = "tok-8f2b9c1d4e5a6b7c8d9e0f1a2b3c4d5e"
	files := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM, "tokens": tokensFile("billing", token, "reports", "tok-other")})
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = files.path("tls.crt"), files.path("tls.key")
	cfg.Listener.ClientTokensFile = files.path("tokens")
	addr, logs := runListener(t, cfg)

	for _, proto := range []string{"http1", "http2"} {
		t.Run(proto, func(t *testing.T) {
			client := tlsClient(serverCA, proto)
			send := func(header, value string) (*http.Response, error) {
				req, _ := http.NewRequest(http.MethodPut, "https://"+addr+"/prod/items", strings.NewReader("payload"))
				if header != "" {
					req.Header.Set(header, value)
				}
				return client.Do(req)
			}
			for _, header := range []string{"Authorization", "Proxy-Authorization"} {
				resp, err := send(header, "Bearer "+token)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("right token in %s: %d", header, resp.StatusCode)
				}
				got := up.last(t)
				if got.VerifyErr != nil || string(got.Body) != "payload" {
					t.Fatalf("upstream: body %q, verify error %v", got.Body, got.VerifyErr)
				}
				for name, values := range got.Header {
					if strings.Contains(strings.Join(values, " "), token) {
						t.Errorf("the token was forwarded in %s", name)
					}
				}
			}
			if !strings.Contains(logs.String(), `"client":"billing"`) {
				t.Errorf("the request log does not name the client billing:\n%s", logs)
			}
			before := up.count()
			resp, err := send("Authorization", "Bearer tok-guessed")
			wantUnauthenticated(t, resp, err)
			resp, err = send("Proxy-Authorization", "Bearer "+token+"x")
			wantUnauthenticated(t, resp, err)
			resp, err = send("", "")
			wantUnauthenticated(t, resp, err)
			if n := up.count(); n != before {
				t.Errorf("the upstream received %d requests from clients that were refused", n-before)
			}
		})
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "tok-guessed") {
		t.Errorf("a bearer token reached the log:\n%s", logs)
	}
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// TestListenerH2C: with --h2c a prior-knowledge HTTP/2 request over
// cleartext is served as HTTP/2 (and authenticated), while HTTP/1.1 on the
// same listener still goes through the framing inspector; without --h2c
// the preface is refused and nothing is forwarded.
func TestListenerH2C(t *testing.T) {
	up := newUpstream(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, tokensFile("grpc-app", "tok-h2c"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.H2C = true
	cfg.Listener.ClientTokensFile = tokens
	addr, _ := runListener(t, cfg)

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/prod/h2c", strings.NewReader("over h2c"))
	req.Header.Set("Authorization", "Bearer tok-h2c")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("h2c request: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if got := up.last(t); got.VerifyErr != nil || string(got.Body) != "over h2c" {
		t.Fatalf("upstream: body %q, verify error %v", got.Body, got.VerifyErr)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://"+addr+"/prod/h2c", nil)
	resp, err = h2cClient().Do(req)
	wantUnauthenticated(t, resp, err)

	// HTTP/1.1 on the same listener: still inspected.
	smuggle := rawRequest(t, addr, "POST /prod/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-h2c\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if smuggle.StatusCode != http.StatusBadRequest || smuggle.Header.Get(ErrorHeader) != CodeBadRequest {
		t.Errorf("Content-Length with Transfer-Encoding over HTTP/1.1 next to h2c: %d %s, want 400 %s", smuggle.StatusCode, smuggle.Header.Get(ErrorHeader), CodeBadRequest)
	}

	plain := fixedListenerConfig(up.URL)
	plainAddr, _ := runListener(t, plain)
	before := up.count()
	req, _ = http.NewRequest(http.MethodGet, "http://"+plainAddr+"/prod/h2c", nil)
	if resp, err := h2cClient().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("without --h2c a prior-knowledge request was answered %d over %s", resp.StatusCode, resp.Proto)
	}
	if n := up.count(); n != before {
		t.Errorf("without --h2c the HTTP/2 preface led to %d upstream requests", n-before)
	}
}

// TestListenerTLSKeepsFramingInspector: over TLS, HTTP/1.1 requests are
// still framed by the inspector, on the plaintext: Content-Length with
// Transfer-Encoding is refused.
func TestListenerTLSKeepsFramingInspector(t *testing.T) {
	up := newUpstream(t)
	serverCA := newTestCA(t, "server-ca")
	serving := serverCA.serverCert(t)
	files := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM})
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = files.path("tls.crt"), files.path("tls.key")
	addr, _ := runListener(t, cfg)

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: serverCA.pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(conn, "POST /prod/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBadRequest {
		t.Errorf("smuggling shape over TLS: %d %s, want 400 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeBadRequest)
	}
	if up.count() != 0 {
		t.Errorf("the upstream received a request the inspector refused")
	}
}

// TestListenerClientMetricsAndWarning: /metrics counts requests by the
// authenticated client's name and the refusals as client_unauthenticated,
// with no value a client chose (a wrong token's text, a Host); and the
// start-time WARN about a listener off loopback is given only while
// clients are not authenticated (addresses given, not bound).
func TestListenerClientMetricsAndWarning(t *testing.T) {
	up := newUpstream(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, tokensFile("billing", "tok-metrics"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.ClientTokensFile = tokens
	addr, admin, _ := runListenerWith(t, cfg, &telemetry.Options{Getenv: func(string) string { return "" }})
	for _, token := range []string{"tok-metrics", "tok-metrics", "tok-chosen-by-client"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/prod/m", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	metrics := func() string {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var text string
	untilTrue(t, "the client counts in /metrics", func() bool {
		text = metrics()
		return strings.Contains(text, `sigv4_sidecar_client_requests_total{client="billing",result="admitted"} 2`) &&
			strings.Contains(text, `sigv4_sidecar_client_requests_total{client="",result="client_unauthenticated"} 1`)
	})
	if strings.Contains(text, "tok-") {
		t.Errorf("a token reached /metrics:\n%s", text)
	}

	away := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8443}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}
	for _, c := range []struct {
		name   string
		listen func(*Config)
		want   int
	}{
		{"NoClientAuthentication", func(*Config) {}, 1},
		{"Tokens", func(c *Config) { c.Listener.ClientTokensFile = tokens }, 0},
		{"MutualTLS", func(c *Config) { c.Listener.ClientCAFile = "ca.pem" }, 0},
	} {
		logs := &logBuffer{}
		cfg := testConfig()
		cfg.Upstream = "http://127.0.0.1:1"
		c.listen(&cfg)
		warnAtStart(slog.New(slog.NewJSONHandler(logs, nil)), cfg, away, loop)
		if n := strings.Count(logs.String(), warnProxyAddr); n != c.want {
			t.Errorf("%s: %d proxy listener warnings, want %d:\n%s", c.name, n, c.want, logs)
		}
	}
}

// TestListenerSilentClientBlocksNoOne: handshakes run off the accept loop,
// so a client that connects and never says a word does not hold up the
// next one, and it is disconnected once --read-header-timeout has passed.
func TestListenerSilentClientBlocksNoOne(t *testing.T) {
	up := newUpstream(t)
	serverCA := newTestCA(t, "server-ca")
	serving := serverCA.serverCert(t)
	files := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM})
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = files.path("tls.crt"), files.path("tls.key")
	// Long enough for the client behind the silent one to finish its
	// handshake and request on a busy machine: 300 ms failed under load.
	cfg.ReadHeaderTimeout = time.Second
	addr, _ := runListener(t, cfg)

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	resp, err := tlsClient(serverCA, "http1").Get("https://" + addr + "/prod/after-silent")
	if err != nil {
		t.Fatalf("a client behind a silent one: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a client behind a silent one: %d", resp.StatusCode)
	}
	silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the silent client's connection was not closed: read returned %v", err)
	}
}
