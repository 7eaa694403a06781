package sidecar

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// tappedBody is an answer's body as the network delivered it, watched from
// right below the circuit breaker: it counts the reads made after it has
// returned its end (io.EOF) and before the proxy wrote the answer's header
// to its client.
type tappedBody struct {
	io.ReadCloser
	headerSent *atomic.Bool
	atEOF      atomic.Bool
	// readsAfterEOF counts the reads that asked for more after io.EOF,
	// before the header went out: a layer reading the body again.
	readsAfterEOF atomic.Int64
	// eofBeforeHeader is set when the body was read to its end before the
	// header went out: the answer was classified.
	eofBeforeHeader atomic.Bool
}

func (b *tappedBody) Read(p []byte) (int, error) {
	if b.atEOF.Load() && !b.headerSent.Load() {
		b.readsAfterEOF.Add(1)
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.atEOF.Store(true)
		if !b.headerSent.Load() {
			b.eofBeforeHeader.Store(true)
		}
	}
	return n, err
}

// headerWatch notes when the proxy writes the header of its answer, which
// httputil.ReverseProxy does right before it copies the body.
type headerWatch struct {
	http.ResponseWriter
	sent    *atomic.Bool
	answers *atomic.Int64
}

func (w headerWatch) WriteHeader(status int) {
	w.sent.Store(true)
	w.answers.Add(1)
	w.ResponseWriter.WriteHeader(status)
}

// TestErrorBodyClassifiedOnceAcrossLayers: the circuit breaker, the signer's
// credential-rejection check, the signature watcher and the retrier all ask
// what an error answer means; only the first reads the body's prefix, the
// others get its Outcome from the request's exchange. A tap right below the
// breaker sees each answer's body as the network delivered it: the breaker
// reads a short error body to its end, and nobody may read the final answer
// again before the proxy writes its header to the client and copies it.
func TestErrorBodyClassifiedOnceAcrossLayers(t *testing.T) {
	up := newUpstream(t)
	const rejection = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, rejection)
	}
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	src := newStaticSource()
	src.rotate = true

	var (
		mu         sync.Mutex
		bodies     []*tappedBody
		headerSent atomic.Bool
		answers    atomic.Int64
	)
	tap := func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(r)
			if err == nil {
				b := &tappedBody{ReadCloser: resp.Body, headerSent: &headerSent}
				resp.Body = b
				mu.Lock()
				bodies = append(bodies, b)
				mu.Unlock()
			}
			return resp, err
		})
	}
	p, err := newProxy(cfg, src, slog.New(slog.DiscardHandler), tap, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(headerWatch{ResponseWriter: w, sent: &headerSent, answers: &answers}, r)
	}))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != http.StatusForbidden || string(got) != rejection {
		t.Errorf("client got %d %q, want the upstream's 403 untouched", resp.StatusCode, got)
	}
	mu.Lock()
	defer mu.Unlock()
	// Two answers: the first rejection (invalidated, retried with fresh
	// keys) and the second (passed through).
	if len(bodies) != 2 || answers.Load() != 1 {
		t.Fatalf("%d answers, %d responses to the client; want 2 and 1", len(bodies), answers.Load())
	}
	final := bodies[len(bodies)-1]
	if !final.eofBeforeHeader.Load() {
		t.Errorf("nobody classified the final answer's body before the client got its header")
	}
	if n := final.readsAfterEOF.Load(); n != 0 {
		t.Errorf("the final answer's body was read %d time(s) after its end, before the copy to the client, want 0: a layer classified it again", n)
	}
	if len(src.invalidated) == 0 || src.invalidated[0] != testKeyID {
		t.Errorf("invalidated %v, want %s: the XML code was not seen", src.invalidated, testKeyID)
	}
}
