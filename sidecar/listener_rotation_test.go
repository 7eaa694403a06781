package sidecar

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// steadyResult counts a steady client's requests.
type steadyResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   string
}

func (l *steadyResult) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.firstErr == "" {
		l.firstErr = msg
	}
	l.mu.Unlock()
}

// steadyLoad sends requests made by newReq with client until stop is
// closed; every answer must be 200.
func steadyLoad(client *http.Client, newReq func() *http.Request, stop <-chan struct{}, res *steadyResult, done *sync.WaitGroup) {
	defer done.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := client.Do(newReq())
		if err != nil {
			res.fail(err.Error())
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			res.fail(fmt.Sprintf("status %d %s", resp.StatusCode, resp.Header.Get(ErrorHeader)))
			continue
		}
		res.ok.Add(1)
	}
}

// untilTrue retries try until it reports true, or fails the test at the
// deadline.
func untilTrue(t *testing.T, what string, try func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !try() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListenerRotationUnderLoad: the serving certificate, the client CA and
// the tokens file, each laid out as a Kubernetes Secret volume, are
// replaced five times while two clients keep sending requests (one opening
// a new TLS connection with its certificate for every request, one on a
// kept-alive HTTP/2 connection with a token): not one of their requests
// fails, and each replacement is seen by the server (a new connection gets
// the new certificate; a client of the new CA, a holder of the new token
// are admitted). Then a malformed new file of each kind is refused with one
// ERROR line, and the last good ones stay in force.
func TestListenerRotationUnderLoad(t *testing.T) {
	up := newUpstream(t)
	serverCA, steadyCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca-0")
	serving := serverCA.serverCert(t)
	tlsDir := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM})
	caDir := newSecretDir(t, map[string][]byte{"ca.crt": steadyCA.pem})
	const steadyToken = "tok-steady-0123456789"
	tokDir := newSecretDir(t, map[string][]byte{"tokens": tokensFile("steady", steadyToken)})
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = tlsDir.path("tls.crt"), tlsDir.path("tls.key")
	cfg.Listener.ClientCAFile = caDir.path("ca.crt")
	cfg.Listener.ClientTokensFile = tokDir.path("tokens")
	addr, logs := runListener(t, cfg)
	url := "https://" + addr + "/prod/load"

	// freshConn opens a new connection for every request.
	freshConn := func(proto string, certs ...tls.Certificate) *http.Client {
		c := tlsClient(serverCA, proto, certs...)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		return c
	}
	get := func() *http.Request { r, _ := http.NewRequest(http.MethodGet, url, nil); return r }
	withToken := func(token string) func() *http.Request {
		return func() *http.Request {
			r := get()
			r.Header.Set("Authorization", "Bearer "+token)
			return r
		}
	}

	stop := make(chan struct{})
	var loaders sync.WaitGroup
	var byCert, byToken steadyResult
	loaders.Add(2)
	go steadyLoad(freshConn("http1", steadyCA.clientCert(t, "spiffe://test/steady").tls), get, stop, &byCert, &loaders)
	go steadyLoad(tlsClient(serverCA, "http2"), withToken(steadyToken), stop, &byToken, &loaders)
	stopLoad := sync.OnceFunc(func() { close(stop); loaders.Wait() })
	defer stopLoad()

	admitted := func(c *http.Client, req *http.Request) bool {
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	servedSerial := func() string {
		resp, err := freshConn("http1", steadyCA.clientCert(t, "spiffe://test/probe").tls).Do(get())
		if err != nil {
			return ""
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	var lastCA *testCA
	var lastToken string
	for i := 1; i <= 5; i++ {
		serving = serverCA.serverCert(t)
		tlsDir.update(map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM})
		untilTrue(t, fmt.Sprintf("serving certificate %d", i), func() bool { return servedSerial() == serving.cert.SerialNumber.String() })

		lastCA = newTestCA(t, fmt.Sprintf("client-ca-%d", i))
		caDir.update(map[string][]byte{"ca.crt": append(append([]byte{}, steadyCA.pem...), lastCA.pem...)})
		newClient := freshConn("http2", lastCA.clientCert(t, fmt.Sprintf("spiffe://test/new-%d", i)).tls)
		untilTrue(t, fmt.Sprintf("client CA %d", i), func() bool { return admitted(newClient, get()) })

		lastToken = fmt.Sprintf("tok-new-%d-abcdef", i)
		tokDir.update(map[string][]byte{"tokens": tokensFile("steady", steadyToken, fmt.Sprintf("new-%d", i), lastToken)})
		untilTrue(t, fmt.Sprintf("tokens file %d", i), func() bool { return admitted(freshConn("http2"), withToken(lastToken)()) })
	}

	tlsDir.update(map[string][]byte{"tls.crt": []byte("-----BEGIN CERTIFICATE-----\ntruncated"), "tls.key": serving.keyPEM})
	caDir.update(map[string][]byte{"ca.crt": []byte("not a certificate\n")})
	tokDir.update(map[string][]byte{"tokens": []byte("steady\n")})
	refusals := func(what string) int {
		n := 0
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"level":"ERROR"`) && strings.Contains(l, "new "+what) {
				n++
			}
		}
		return n
	}
	kinds := []string{"serving certificate", "client CA", "client tokens"}
	untilTrue(t, "the malformed files' refusals", func() bool {
		for _, k := range kinds {
			if refusals(k) == 0 {
				return false
			}
		}
		return true
	})
	if got := servedSerial(); got != serving.cert.SerialNumber.String() {
		t.Errorf("after a malformed certificate a new connection got serial %s, want the last good %s", got, serving.cert.SerialNumber)
	}
	if !admitted(freshConn("http1", lastCA.clientCert(t, "spiffe://test/after").tls), get()) {
		t.Error("after a malformed CA file a client of the last good CA is refused")
	}
	if !admitted(freshConn("http1"), withToken(lastToken)()) {
		t.Error("after a malformed tokens file the last good token is refused")
	}
	stopLoad()
	for _, k := range kinds {
		if n := refusals(k); n != 1 {
			t.Errorf("%d ERROR lines for one malformed %s, want 1", n, k)
		}
	}
	for name, res := range map[string]*steadyResult{"certificate client": &byCert, "token client": &byToken} {
		if res.failed.Load() != 0 || res.ok.Load() == 0 {
			t.Errorf("%s: %d requests failed (first: %s), %d succeeded during the rotations", name, res.failed.Load(), res.firstErr, res.ok.Load())
		}
	}
	if strings.Contains(logs.String(), steadyToken) || strings.Contains(logs.String(), lastToken) {
		t.Error("a bearer token reached the log")
	}
}

// TestListenerStreamsBothWays: over h2c and over TLS HTTP/2, a request body
// streamed up and the response streamed down pass through the proxy at the
// same time: the client reads the upstream's echo of each line before it
// sends the next, which needs both directions open at once (gRPC-style
// bidirectional streaming).
func TestListenerStreamsBothWays(t *testing.T) {
	var upstreamErr atomic.Value
	up := newUpstream(t)
	up.respond = nil
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			upstreamErr.Store(fmt.Sprintf("not signed for streaming: %v", r.Header))
		}
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			upstreamErr.Store(err.Error())
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(http.StatusOK)
		rc.Flush()
		lines := bufio.NewScanner(r.Body)
		for lines.Scan() {
			fmt.Fprintf(w, "echo:%s\n", lines.Text())
			rc.Flush()
		}
	})

	serverCA := newTestCA(t, "server-ca")
	serving := serverCA.serverCert(t)
	files := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM, "tokens": tokensFile("streamer", "tok-stream")})

	h2c := fixedListenerConfig(up.URL)
	h2c.Payload = PayloadUnsigned
	h2c.Listener.H2C = true
	h2c.Listener.ClientTokensFile = files.path("tokens")
	h2cAddr, _ := runListener(t, h2c)

	overTLS := fixedListenerConfig(up.URL)
	overTLS.Payload = PayloadUnsigned
	overTLS.Listener.TLSCertFile, overTLS.Listener.TLSKeyFile = files.path("tls.crt"), files.path("tls.key")
	overTLS.Listener.ClientTokensFile = files.path("tokens")
	tlsAddr, _ := runListener(t, overTLS)

	for _, c := range []struct {
		name   string
		url    string
		client *http.Client
	}{
		{"h2c", "http://" + h2cAddr + "/prod/stream", h2cClient()},
		{"TLS HTTP/2", "https://" + tlsAddr + "/prod/stream", tlsClient(serverCA, "http2")},
	} {
		t.Run(c.name, func(t *testing.T) {
			body, send := io.Pipe()
			req, _ := http.NewRequest(http.MethodPost, c.url, body)
			req.Header.Set("Authorization", "Bearer tok-stream")
			req.Header.Set("Content-Type", "application/grpc")
			respc := make(chan *http.Response, 1)
			errc := make(chan error, 1)
			go func() {
				resp, err := c.client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				respc <- resp
			}()
			go fmt.Fprint(send, "line 0\n") // returns once the proxy has read it
			var resp *http.Response
			select {
			case resp = <-respc:
			case err := <-errc:
				t.Fatal(err)
			case <-time.After(20 * time.Second):
				t.Fatal("no response headers while the request body was still open: the proxy did not stream the request")
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Fatalf("%d over %s", resp.StatusCode, resp.Proto)
			}
			echoes := bufio.NewReader(resp.Body)
			for i := 0; i < 5; i++ {
				if i > 0 {
					fmt.Fprintf(send, "line %d\n", i)
				}
				got := make(chan string, 1)
				go func() { s, _ := echoes.ReadString('\n'); got <- s }()
				select {
				case s := <-got:
					if want := fmt.Sprintf("echo:line %d\n", i); s != want {
						t.Fatalf("read %q, want %q", s, want)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("the echo of line %d did not come back while the request body was open", i)
				}
			}
			send.Close()
			if rest, _ := io.ReadAll(echoes); len(rest) != 0 {
				t.Errorf("after the last line: %q", rest)
			}
			if err := upstreamErr.Load(); err != nil {
				t.Error(err)
			}
		})
	}
}
