package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
)

// TestBodyMemoryTotalBoundsConcurrentRequests sends many hashed uploads at
// once through the proxy to a verifying upstream that holds every request
// until all have arrived, so every body is spooled at the same moment (some
// of them retried after a 503, some of unknown length): the budget's count
// stays within --body-memory-total, the bodies it cannot hold go to files
// and still arrive signed and intact, and once the requests are done,
// cancelled ones included, the budget is back to zero.
func TestBodyMemoryTotalBoundsConcurrentRequests(t *testing.T) {
	const (
		bodyMemory = 1 << 20
		total      = 2 << 20
		n          = 16
		bodySize   = 512 << 10
	)
	cfg := testConfig()
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Payload = PayloadSigned
	cfg.BodyMemory, cfg.BodyMemoryTotal = bodyMemory, total
	cfg.SpoolDir = t.TempDir()
	cfg.Resilience.RetryBase = time.Millisecond
	cfg.Resilience.BreakerFailures = 0

	var (
		mu             sync.Mutex
		arrived        = map[string]bool{}
		failedOnce     = map[string]bool{}
		allThere       = make(chan struct{})
		heldAtBarrier  int64
		filesAtBarrier int64
	)
	p := (*Proxy)(nil)
	filesBefore := spoolFilesOpen()
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		id := r.Header.Get("X-Test-Id")
		if rec.VerifyErr != nil {
			http.Error(w, rec.VerifyErr.Error(), http.StatusForbidden)
			return
		}
		if r.URL.Path == "/hang" {
			// Holds the request until the client gives up.
			<-r.Context().Done()
			return
		}
		mu.Lock()
		if !arrived[id] {
			arrived[id] = true
			if len(arrived) == n {
				// Every request's body is spooled now (each is read to its
				// end before it is signed) and none has finished.
				heldAtBarrier = p.c.bodyBudget.InUse()
				filesAtBarrier = spoolFilesOpen() - filesBefore
				close(allThere)
			}
		}
		retry := r.Header.Get("X-Fail-Once") != "" && !failedOnce[id]
		failedOnce[id] = true
		mu.Unlock()
		if retry {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select {
		case <-allThere:
		case <-r.Context().Done():
			return
		case <-time.After(time.Minute):
			// A safety net against a hung test, not a timing check: the
			// count of arrivals below reports the failure.
		}
		sum := sha256.Sum256(rec.Body)
		w.Header().Set("X-Body-Sha256", hex.EncodeToString(sum[:]))
		fmt.Fprint(w, len(rec.Body))
	}
	cfg.Upstream = up.URL
	var err error
	p, err = New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })
	budget := p.c.bodyBudget

	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := testBody(bodySize + i*1000)
			var r io.Reader = bytes.NewReader(body)
			if i%2 == 1 {
				r = io.MultiReader(r) // unknown length: chunked to the proxy
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/q", r)
			req.Header.Set("X-Test-Id", strconv.Itoa(i))
			if i%4 == 0 {
				req.Header.Set("X-Fail-Once", "1")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			sum := sha256.Sum256(body)
			if resp.StatusCode != 200 || string(got) != strconv.Itoa(len(body)) || resp.Header.Get("X-Body-Sha256") != hex.EncodeToString(sum[:]) {
				t.Errorf("request %d: status %d, body %.200q", i, resp.StatusCode, got)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	if len(arrived) != n {
		t.Fatalf("%d of %d requests reached the upstream", len(arrived), n)
	}
	mu.Unlock()
	// 16 bodies of 512 KiB or more under a 2 MiB budget: at most 3 fit.
	if heldAtBarrier > total || budget.HighWater() > total || filesAtBarrier < n-total/bodySize {
		t.Errorf("with every body spooled: %d bytes in memory (high water %d), %d in files; want at most %d, and at least %d in files",
			heldAtBarrier, budget.HighWater(), filesAtBarrier, total, n-total/bodySize)
	}
	if !eventually(func() bool { return budget.InUse() == 0 && spoolFilesOpen() == filesBefore }) {
		t.Errorf("after every request: %d bytes reserved, %d spool files open", budget.InUse(), spoolFilesOpen()-filesBefore)
	}

	t.Run("Cancelled", func(t *testing.T) {
		// Cancelled while the proxy reads the body, and while the
		// upstream holds a fully spooled one.
		for _, path := range []string{"/q", "/hang"} {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, pr)
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			pw.Write(testBody(300 << 10))
			if path == "/hang" {
				pw.Close()
			}
			if !eventually(func() bool { return budget.InUse() > 0 }) {
				t.Errorf("%s: the body never took memory from the budget", path)
			}
			cancel()
			pw.CloseWithError(context.Canceled)
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("%s: client got %v, want it cancelled", path, err)
			}
			if !eventually(func() bool { return budget.InUse() == 0 && spoolFilesOpen() == filesBefore }) {
				t.Errorf("%s: after the cancellation %d bytes reserved, %d spool files open", path, budget.InUse(), spoolFilesOpen()-filesBefore)
			}
		}
	})
}

// TestSpoolErrorIsServiceUnavailable: a body that cannot be buffered (its
// spool directory cannot be written) is answered 503 spool_failed.
func TestSpoolErrorIsServiceUnavailable(t *testing.T) {
	_, err := body.NewSpool(bytes.NewReader(testBody(100)), -1, body.Limits{Memory: 10, Max: 1000, Dir: "/nonexistent-spool-dir"})
	var spoolErr *body.SpoolError
	if !errors.As(err, &spoolErr) {
		t.Errorf("got %v, want *body.SpoolError", err)
	}
	if status, code, _ := errorResponse(err); status != 503 || code != CodeSpoolFailed {
		t.Errorf("maps to %d %s", status, code)
	}
}

// spoolFilesOpen is the spool files open in the process (body.FilesOpen),
// under a name the tests' many body variables do not shadow.
func spoolFilesOpen() int64 { return body.FilesOpen() }
