//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"testing"
)

// tap sits between the proxy and a server and records what passes, without
// changing a signed byte: the Host header, path and body go on as they came.
// It shows from the server's side which access key signed each request and
// exactly what the server answered.
type tap struct {
	srv *httptest.Server

	mu         sync.Mutex
	keys       []string // access key id of each request, in order
	lastStatus int
	lastBody   []byte
}

var credentialKeyID = regexp.MustCompile(`Credential=([^/]+)/`)

// newTap starts a tap in front of s. A hop given as rewrite changes each
// request after the proxy signed it, as a misbehaving hop on the way would.
func newTap(t testing.TB, s *server, rewrite ...func(*http.Request)) *tap {
	target, err := url.Parse(s.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = target.Scheme, target.Host
			r.Out.Host = r.In.Host // signed: must reach the server as sent
			for _, f := range rewrite {
				f(r.Out)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode < 300 {
				tp.record(resp.StatusCode, nil)
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			tp.record(resp.StatusCode, body)
			return err
		},
	}
	tp.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := credentialKeyID.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			tp.mu.Lock()
			tp.keys = append(tp.keys, m[1])
			tp.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp.srv.Listener = l
	tp.srv.Start()
	t.Cleanup(tp.srv.Close)
	return tp
}

func (tp *tap) record(status int, body []byte) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.lastStatus, tp.lastBody = status, body
}

// url is the address the proxy's --upstream points at.
func (tp *tap) url() string { return tp.srv.URL }

// accessKeys returns the access key id of every signed request so far.
func (tp *tap) accessKeys() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.keys...)
}

// last returns the latest upstream answer's status and, for an error, body.
func (tp *tap) last() (int, []byte) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.lastStatus, tp.lastBody
}
