package sidecar

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
)

// mitmCA creates a CA with `ca init`'s code in a temporary directory and
// returns its files and a pool that trusts it, as AWS_CA_BUNDLE does.
func mitmCA(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	ca, err := mitm.Create(dir, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return filepath.Join(dir, mitm.CACertFile), filepath.Join(dir, mitm.CAKeyFile), pool
}

// tunnelConfig is host mode with the MITM CA, every *.amazonaws.com:443
// sent to up (TLS, trusted through caFile).
func tunnelConfig(t testing.TB, up *verifyingUpstream, upCAFile string) (Config, *x509.CertPool) {
	cfg := testConfig()
	cfg.UpstreamCAFile = upCAFile
	cfg.ConnectTo = []string{"*.amazonaws.com:443=" + up.Listener.Addr().String()}
	var pool *x509.CertPool
	cfg.MITM.CACertFile, cfg.MITM.CAKeyFile, pool = mitmCA(t)
	return cfg, pool
}

// httpsProxyClient is an SDK's view of HTTPS_PROXY: https URLs go through a
// CONNECT tunnel opened by proxyAddr, and the tunnel's certificate must
// chain to roots (AWS_CA_BUNDLE).
func httpsProxyClient(proxyAddr string, roots *x509.CertPool, proto string, connectHeader http.Header) *http.Client {
	tr := &http.Transport{
		Proxy:              http.ProxyURL(&url.URL{Scheme: "http", Host: proxyAddr}),
		ProxyConnectHeader: connectHeader,
		TLSClientConfig:    &tls.Config{RootCAs: roots},
		Protocols:          new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(proto == "http1")
	tr.Protocols.SetHTTP2(proto == "http2")
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// TestConnectTunnelSignsRequestsForTheHost: a client with HTTPS_PROXY
// semantics reaches the real endpoint's name through the proxy; the leaf it
// sees names that host only and chains to the MITM CA; the upstream
// receives the request signed for the host's service and region, body
// intact. Over HTTP/1.1 and HTTP/2 inside the tunnel.
func TestConnectTunnelSignsRequestsForTheHost(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, roots := tunnelConfig(t, up, upCA)
	addr, logs := runListener(t, cfg)
	const host = "sqs.us-east-1.amazonaws.com"
	for _, proto := range []string{"http1", "http2"} {
		t.Run(proto, func(t *testing.T) {
			client := httpsProxyClient(addr, roots, proto, nil)
			resp, err := client.Post("https://"+host+"/?Action=SendMessage", "application/x-www-form-urlencoded", strings.NewReader("MessageBody=hello"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %q", resp.StatusCode, body)
			}
			if want := map[string]int{"http1": 1, "http2": 2}[proto]; resp.ProtoMajor != want {
				t.Errorf("inside the tunnel the client spoke HTTP/%d, want %d", resp.ProtoMajor, want)
			}
			leaf := resp.TLS.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != host || len(leaf.IPAddresses)+len(leaf.URIs) != 0 {
				t.Errorf("the leaf names %v %v %v, want %s alone", leaf.DNSNames, leaf.IPAddresses, leaf.URIs, host)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
				t.Errorf("the leaf does not chain to the MITM CA: %v", err)
			}
			got := up.last(t)
			if got.VerifyErr != nil {
				t.Fatalf("the upstream's verifier refused the signature: %v", got.VerifyErr)
			}
			if got.Service != "sqs" || got.Region != "us-east-1" || got.Host != host || string(got.Body) != "MessageBody=hello" {
				t.Errorf("upstream got service %q region %q host %q body %q", got.Service, got.Region, got.Host, got.Body)
			}
		})
	}
	if !strings.Contains(logs.String(), `"method":"CONNECT"`) {
		t.Errorf("the CONNECT is not in the request log:\n%s", logs)
	}
}

// TestConnectToDisallowedHostIsRefusedBeforeTLS: CONNECT to a host outside
// --allow-hosts gets the proxy's 403 connect_not_allowed, no 200 and no TLS,
// and nothing reaches the upstream; nor does a CONNECT that names no port.
func TestConnectToDisallowedHostIsRefusedBeforeTLS(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, _ := tunnelConfig(t, up, upCA)
	cfg.AllowHosts = []string{"*.us-east-1.amazonaws.com"}
	addr, _ := runListener(t, cfg)
	for _, authority := range []string{"sqs.eu-west-1.amazonaws.com:443", "example.com:443", "169.254.169.254:443"} {
		resp := rawRequest(t, addr, "CONNECT "+authority+" HTTP/1.1\r\nHost: "+authority+"\r\n\r\n")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != CodeConnectNotAllowed {
			t.Errorf("CONNECT %s: %d %s %q, want 403 %s", authority, resp.StatusCode, resp.Header.Get(ErrorHeader), body, CodeConnectNotAllowed)
		}
	}
	resp := rawRequest(t, addr, "CONNECT sqs.us-east-1.amazonaws.com HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBadHost {
		t.Errorf("CONNECT without a port: %d %s, want 400 %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeBadHost)
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// openTunnel opens a CONNECT tunnel to authority through addr and runs the
// TLS handshake for serverName inside it.
func openTunnel(t *testing.T, addr, authority, serverName string, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(raw, "CONNECT "+authority+" HTTP/1.1\r\nHost: "+authority+"\r\n\r\n")
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %v %v", authority, resp, err)
	}
	tc := tls.Client(raw, &tls.Config{ServerName: serverName, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS in the tunnel: %v", err)
	}
	return tc
}

// TestTunnelRequestForAnotherHostIsMisdirected: inside a tunnel to one
// host, a request that names another (allowed) host is refused with 421
// tunnel_host_mismatch and not forwarded: the tunnel's certificate and the
// allow-list's answer were for the CONNECT's host only.
func TestTunnelRequestForAnotherHostIsMisdirected(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, roots := tunnelConfig(t, up, upCA)
	addr, _ := runListener(t, cfg)
	const host = "sqs.us-east-1.amazonaws.com"
	for _, inner := range []string{"sts.us-east-1.amazonaws.com", host + ":8443", "GET https://sts.amazonaws.com/ HTTP/1.1"} {
		tc := openTunnel(t, addr, host+":443", host, roots)
		line := "GET / HTTP/1.1\r\nHost: " + inner + "\r\n\r\n"
		if strings.HasPrefix(inner, "GET ") {
			line = inner + "\r\nHost: sts.amazonaws.com\r\n\r\n"
		}
		io.WriteString(tc, line)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get(ErrorHeader) != CodeTunnelHostMismatch {
			t.Errorf("%q in a tunnel to %s: %d %s, want 421 %s", inner, host, resp.StatusCode, resp.Header.Get(ErrorHeader), CodeTunnelHostMismatch)
		}
	}
	// The tunnel's own host, spelled with its default port, is served.
	tc := openTunnel(t, addr, host+":443", host, roots)
	io.WriteString(tc, "GET /?Action=ListQueues HTTP/1.1\r\nHost: "+strings.ToUpper(host)+":443\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the tunnel's own host: %v %v", resp, err)
	}
	if n := up.count(); n != 1 {
		t.Errorf("the upstream received %d requests, want the one for the tunnel's host", n)
	}
}

// TestConnectWithoutMITMCAKeepsItsRefusal: without --mitm-ca-cert a CONNECT
// gets the same 400 as before tunnels existed.
func TestConnectWithoutMITMCAKeepsItsRefusal(t *testing.T) {
	addr, _ := runListener(t, testConfig())
	resp := rawRequest(t, addr, "CONNECT sqs.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com:443\r\n\r\n")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "CONNECT tunnels are not supported: send plain HTTP to the proxy") {
		t.Errorf("%d %q, want today's 400", resp.StatusCode, body)
	}
}

// TestConnectAuthenticatesAndTheTunnelKeepsTheClient: when the listener
// requires client credentials, a CONNECT without one gets 401 and no
// tunnel; one with Proxy-Authorization: Bearer opens it, and the requests
// inside are logged as that client, with the token never forwarded.
func TestConnectAuthenticatesAndTheTunnelKeepsTheClient(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, roots := tunnelConfig(t, up, upCA)
	const token = "tok-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
	files := newSecretDir(t, map[string][]byte{"tokens": tokensFile("billing", token)})
	cfg.Listener.ClientTokensFile = files.path("tokens")
	addr, logs := runListener(t, cfg)

	resp := rawRequest(t, addr, "CONNECT sqs.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com:443\r\n\r\n")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(ErrorHeader) != CodeClientUnauthenticated {
		t.Fatalf("CONNECT without a token: %d %s, want 401", resp.StatusCode, resp.Header.Get(ErrorHeader))
	}
	for _, proto := range []string{"http1", "http2"} {
		client := httpsProxyClient(addr, roots, proto, http.Header{"Proxy-Authorization": {"Bearer " + token}})
		resp, err := client.Get("https://sqs.us-east-1.amazonaws.com/?Action=ListQueues")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", proto, resp.StatusCode)
		}
		got := up.last(t)
		if got.VerifyErr != nil {
			t.Fatal(got.VerifyErr)
		}
		for name, values := range got.Header {
			if strings.Contains(strings.Join(values, " "), token) {
				t.Errorf("the token was forwarded in %s", name)
			}
		}
	}
	if n := strings.Count(logs.String(), `"client":"billing"`); n < 4 {
		t.Errorf("the CONNECTs and the requests in their tunnels are not all logged as billing (%d lines):\n%s", n, logs)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token reached the log")
	}
}

// TestTunnelObeysListenerTimeouts: a tunnel whose client says nothing
// after the 200 (no TLS), or nothing after the handshake, or stays idle
// after a request, is closed by the proxy (--read-header-timeout,
// --idle-timeout), as a client connection is.
func TestTunnelObeysListenerTimeouts(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, roots := tunnelConfig(t, up, upCA)
	// Long enough for the well-behaved steps (CONNECT, the handshake in the
	// tunnel, the request) to beat them on a busy machine: 300 ms failed
	// under load.
	cfg.ReadHeaderTimeout = time.Second
	cfg.IdleTimeout = time.Second
	addr, _ := runListener(t, cfg)
	const host = "sqs.us-east-1.amazonaws.com"
	closed := func(what string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: the proxy kept the tunnel open", what)
		}
	}

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	io.WriteString(raw, "CONNECT "+host+":443 HTTP/1.1\r\nHost: "+host+":443\r\n\r\n")
	br := bufio.NewReader(raw)
	if resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	closed("no TLS handshake", raw)

	closed("no request after the handshake", openTunnel(t, addr, host+":443", host, roots))

	tc := openTunnel(t, addr, host+":443", host, roots)
	io.WriteString(tc, "GET /?Action=ListQueues HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("request in the tunnel: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	closed("idle after a request", tc)
}

// TestTunnelDrainsOnShutdown: a request in flight inside a tunnel when the
// proxy is told to stop finishes with its answer, as one on a client
// connection does, and Run returns.
func TestTunnelDrainsOnShutdown(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		arrived <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "late")
	}
	cfg, roots := tunnelConfig(t, up, upCA)
	addr, _, _, stop := runServer(t, cfg, newStaticSource())
	client := httpsProxyClient(addr, roots, "http1", nil)
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Get("https://sqs.us-east-1.amazonaws.com/?Action=ListQueues")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-arrived
	done := make(chan error, 1)
	go func() { done <- stop() }()
	time.Sleep(100 * time.Millisecond) // let Shutdown begin; the result does not depend on it
	close(release)
	r := <-res
	if r.err != nil || r.body != "late" {
		t.Fatalf("the request in the tunnel: %q %v, want its answer", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestMITMOptionsAreChecked: a CA with a key that is not its own, or the
// options together with --upstream, stop the start with a message naming
// the option.
func TestMITMOptionsAreChecked(t *testing.T) {
	certA, _, _ := mitmCA(t)
	_, keyB, _ := mitmCA(t)
	cfg := testConfig()
	cfg.MITM.CACertFile, cfg.MITM.CAKeyFile = certA, keyB
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--mitm-ca-key") || !strings.Contains(err.Error(), "is not the private key") {
		t.Errorf("mismatched key: %v", err)
	}
	certA, keyA, _ := mitmCA(t)
	cfg = fixedListenerConfig("https://example.com")
	cfg.MITM.CACertFile, cfg.MITM.CAKeyFile = certA, keyA
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--mitm-ca-cert") || !strings.Contains(err.Error(), "drop --upstream") {
		t.Errorf("with --upstream: %v", err)
	}
	if b, _ := os.ReadFile(keyA); strings.Contains(cfg.Validate().Error(), string(b[30:60])) {
		t.Error("the error quotes the key")
	}
}

// mitmCAFiles is a new CA's two files' contents and a pool trusting it.
func mitmCAFiles(t *testing.T) (files map[string][]byte, pool *x509.CertPool) {
	certFile, keyFile, pool := mitmCA(t)
	cert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"ca.crt": cert, "ca.key": key}, pool
}

// TestMITMCARotation: the CA files are re-read when they change (a Secret's
// ..data swap): new tunnels get leaves from the new CA, and a new pair whose
// key does not match is refused with one ERROR line, the last good CA kept.
func TestMITMCARotation(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, _ := tunnelConfig(t, up, upCA)
	first, firstPool := mitmCAFiles(t)
	dir := newSecretDir(t, first)
	cfg.MITM.CACertFile, cfg.MITM.CAKeyFile = dir.path("ca.crt"), dir.path("ca.key")
	addr, logs := runListener(t, cfg)
	get := func(roots *x509.CertPool) error {
		// A new client per call: a tunnel is opened, and a leaf minted or
		// taken from the cache, for each.
		resp, err := httpsProxyClient(addr, roots, "http1", nil).Get("https://sqs.us-east-1.amazonaws.com/?Action=ListQueues")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := get(firstPool); err != nil {
		t.Fatalf("with the first CA: %v", err)
	}
	second, secondPool := mitmCAFiles(t)
	dir.update(second)
	deadline := time.Now().Add(10 * time.Second)
	for get(secondPool) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the new CA was never taken")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := get(firstPool); err == nil {
		t.Error("a tunnel still chains to the replaced CA")
	}
	third, _ := mitmCAFiles(t)
	dir.update(map[string][]byte{"ca.crt": third["ca.crt"], "ca.key": second["ca.key"]})
	for !strings.Contains(logs.String(), "is not the private key of the certificate") {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("the mismatched pair was not refused:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := get(secondPool); err != nil {
		t.Errorf("after a bad new pair, the last good CA is not kept: %v", err)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(second["ca.key"][28:70]))) {
		t.Error("the CA key reached the log")
	}
}

// TestConnectOverMutualTLSListener: with the listener on TLS and client
// certificates required, an HTTPS proxy client (Go's Transport with an
// https:// proxy URL) presents its certificate to the proxy, opens the
// tunnel, and the requests inside it are logged as the certificate's
// identity; without a certificate the CONNECT gets 401 and no tunnel.
func TestConnectOverMutualTLSListener(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, mitmRoots := tunnelConfig(t, up, upCA)
	serverCA, clientCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca")
	serving := serverCA.serverCert(t)
	files := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM, "client-ca.crt": clientCA.pem})
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = files.path("tls.crt"), files.path("tls.key")
	cfg.Listener.ClientCAFile = files.path("client-ca.crt")
	addr, logs := runListener(t, cfg)

	const id = "spiffe://cluster.local/ns/shop/sa/orders"
	valid := clientCA.clientCert(t, id)
	roots := mitmRoots.Clone()
	roots.AddCert(serverCA.cert)
	client := func(cert *tls.Certificate) *http.Client {
		tlsCfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			Proxy: http.ProxyURL(&url.URL{Scheme: "https", Host: addr}), TLSClientConfig: tlsCfg}}
	}
	resp, err := client(&valid.tls).Get("https://sqs.us-east-1.amazonaws.com/?Action=ListQueues")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := up.last(t); got.VerifyErr != nil {
		t.Fatal(got.VerifyErr)
	}
	if n := strings.Count(logs.String(), `"client":"`+id+`"`); n < 2 {
		t.Errorf("the CONNECT and the request in its tunnel are not both logged as %s:\n%s", id, logs)
	}
	before := up.count()
	if _, err := client(nil).Get("https://sqs.us-east-1.amazonaws.com/?Action=ListQueues"); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("without a client certificate: %v, want the CONNECT refused with 401", err)
	}
	if up.count() != before {
		t.Error("a request without a client certificate reached the upstream")
	}
}

// TestConnectTunnelWithRoutes: with --config routes, a CONNECT is admitted
// by the route its host takes (403 for a host no route takes, and for a
// route in fixed mode, before any TLS), and each request inside the tunnel
// picks its own route, by host and path, as any other request does.
func TestConnectTunnelWithRoutes(t *testing.T) {
	up, upCA := newTLSUpstream(t)
	cfg, roots := tunnelConfig(t, up, upCA)
	cfg.ConfigFile = filepath.Join(t.TempDir(), "gateway.yaml")
	routes := `
routes:
  - name: queue-a
    match: {hosts: [sqs.us-east-1.amazonaws.com], path: /a}
    add-headers: {X-Route: queue-a}
  - name: queues
    match: {hosts: [sqs.us-east-1.amazonaws.com]}
    add-headers: {X-Route: queues}
  - name: fixed
    match: {hosts: [fixed.us-east-1.amazonaws.com]}
    upstream: ` + up.URL + `
    service: execute-api
    region: us-east-1
`
	if err := os.WriteFile(cfg.ConfigFile, []byte(routes), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := runListener(t, cfg)
	client := httpsProxyClient(addr, roots, "http1", nil)
	for _, tc := range []struct{ path, route string }{{"/a/1", "queue-a"}, {"/b/1", "queues"}, {"/a/2", "queue-a"}} {
		resp, err := client.Get("https://sqs.us-east-1.amazonaws.com" + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := up.last(t)
		if resp.StatusCode != http.StatusOK || got.VerifyErr != nil || got.Header.Get("X-Route") != tc.route {
			t.Errorf("%s in the tunnel: %d, verify error %v, route %q, want %s", tc.path, resp.StatusCode, got.VerifyErr, got.Header.Get("X-Route"), tc.route)
		}
	}
	before := up.count()
	for authority, code := range map[string]string{"fixed.us-east-1.amazonaws.com:443": CodeConnectNotAllowed, "sts.us-east-1.amazonaws.com:443": CodeNoRoute} {
		resp := rawRequest(t, addr, "CONNECT "+authority+" HTTP/1.1\r\nHost: "+authority+"\r\n\r\n")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != code {
			t.Errorf("CONNECT %s: %d %s, want 403 %s", authority, resp.StatusCode, resp.Header.Get(ErrorHeader), code)
		}
	}
	if up.count() != before {
		t.Error("a refused CONNECT reached the upstream")
	}
}

// TestConnectWithoutCredentialOpensTunnelForClientKeys: an SDK behind
// HTTPS_PROXY that signs with a client key sends its CONNECT with no
// credential (the bug: the listener refused it 401, so no SDK could use
// client keys through HTTPS_PROXY). With --client-keys-file such a CONNECT
// opens the tunnel, with and without routes (a route that admits only the
// key's client included); inside it a request signed with the client key
// is verified and reaches the upstream re-signed, while an unsigned one, or
// one signed with an unknown key, gets the proxy's 401/403 and nothing is
// forwarded (a route open to any client included: a tunnel that named no
// client is not one). A CONNECT with a wrong token is still refused.
func TestConnectWithoutCredentialOpensTunnelForClientKeys(t *testing.T) {
	const host = "sqs.us-east-1.amazonaws.com"
	for _, tc := range []struct{ name, routes string }{
		{"flags", ""},
		{"route for the client", "routes:\n  - name: queues\n    match: {hosts: [" + host + "], clients: [" + clientKeyName + "]}\n"},
		{"route for anyone", "routes:\n  - name: queues\n    match: {hosts: [" + host + "]}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, upCA := newTLSUpstream(t)
			cfg, roots := tunnelConfig(t, up, upCA)
			files := newSecretDir(t, map[string][]byte{
				"keys":   []byte(clientKeyID + " " + clientKeySecret + " " + clientKeyName + "\n"),
				"tokens": tokensFile("other", "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
			})
			cfg.Listener.ClientKeysFile = files.path("keys")
			cfg.Listener.ClientTokensFile = files.path("tokens")
			if tc.routes != "" {
				cfg.ConfigFile = filepath.Join(t.TempDir(), "gateway.yaml")
				if err := os.WriteFile(cfg.ConfigFile, []byte(tc.routes), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			addr, logs := runListener(t, cfg)
			client := httpsProxyClient(addr, roots, "http1", nil)
			send := func(keyID, secret string) (*http.Response, string) {
				t.Helper()
				req, err := http.NewRequest(http.MethodPost, "https://"+host+"/", strings.NewReader("Action=ListQueues"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if keyID != "" {
					sum := sha256.Sum256([]byte("Action=ListQueues"))
					if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "sqs", "us-east-1", time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("through the tunnel: %v\n%s", err, logs)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp, string(body)
			}
			if resp, body := send(clientKeyID, clientKeySecret); resp.StatusCode != http.StatusOK {
				t.Fatalf("signed with the client key: %d %s", resp.StatusCode, body)
			}
			if got := up.last(t); got.VerifyErr != nil || got.KeyID != testKeyID || got.Host != host || string(got.Body) != "Action=ListQueues" {
				t.Fatalf("upstream: key %q host %q body %q verify %v", got.KeyID, got.Host, got.Body, got.VerifyErr)
			}
			before := up.count()
			for _, refused := range []struct{ name, keyID, code string }{
				{"unsigned", "", CodeClientUnauthenticated},
				{"unknown key", "AKIDNOTINTHEKEYSFILE", CodeClientKeyUnknown},
			} {
				resp, body := send(refused.keyID, clientKeySecret)
				if resp.Header.Get(ErrorHeader) != refused.code {
					t.Errorf("%s in the tunnel: %d %s %s, want %s", refused.name, resp.StatusCode, resp.Header.Get(ErrorHeader), body, refused.code)
				}
			}
			resp := rawRequest(t, addr, "CONNECT "+host+":443 HTTP/1.1\r\nHost: "+host+":443\r\nProxy-Authorization: Bearer tok-wrong-wrong-wrong-wrong-wrong\r\n\r\n")
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(ErrorHeader) != CodeClientUnauthenticated {
				t.Errorf("CONNECT with a wrong token: %d %s, want 401", resp.StatusCode, resp.Header.Get(ErrorHeader))
			}
			if up.count() != before {
				t.Errorf("the upstream received %d refused requests", up.count()-before)
			}
			if strings.Contains(logs.String(), clientKeySecret) {
				t.Error("the client secret reached the log")
			}
		})
	}
}
