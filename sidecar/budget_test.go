package sidecar

import (
	"bytes"
	"cmp"
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
	"testing/iotest"
	"time"
)

func TestMemoryBudget(t *testing.T) {
	b := newMemoryBudget(100)
	if !b.reserve(60) || !b.reserve(40) {
		t.Fatal("reserving up to the limit failed")
	}
	if b.reserve(1) {
		t.Error("reserved beyond the limit")
	}
	b.release(50)
	if b.reserve(51) || !b.reserve(50) || b.inUse() != 100 {
		t.Errorf("after a release: in use %d, want 100", b.inUse())
	}
	b.release(100)
	if b.inUse() != 0 || b.highWater() != 100 {
		t.Errorf("in use %d, high water %d; want 0, 100", b.inUse(), b.highWater())
	}
	unlimited := newMemoryBudget(0)
	if !unlimited.reserve(1<<40) || unlimited.inUse() != 1<<40 {
		t.Error("a budget of 0 must give everything and still count it")
	}
}

// TestMemoryBudgetConcurrent has many goroutines take and give back memory
// at once: the budget's own count never passes its limit, and ends at zero.
func TestMemoryBudgetConcurrent(t *testing.T) {
	const limit = 1000
	b := newMemoryBudget(limit)
	var wg sync.WaitGroup
	var refused sync.Map
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				n := int64(1 + (g*7+i)%97)
				if !b.reserve(n) {
					refused.Store(g, true)
					continue
				}
				if used := b.inUse(); used > limit {
					t.Errorf("%d bytes in use, limit %d", used, limit)
				}
				b.release(n)
			}
		}()
	}
	wg.Wait()
	if b.inUse() != 0 || b.highWater() > limit {
		t.Errorf("in use %d, high water %d after all goroutines; want 0, at most %d", b.inUse(), b.highWater(), limit)
	}
}

// TestSpoolBodyBudget: a body goes to memory while the budget lasts and to
// its file when it does not, round-trips either way, and gives its memory
// back on Close and on every error.
func TestSpoolBodyBudget(t *testing.T) {
	const memLimit = 1000
	check := func(t *testing.T, sp *spool, body []byte) {
		t.Helper()
		sum := sha256.Sum256(body)
		got, _ := io.ReadAll(sp.reader())
		if !bytes.Equal(got, body) || sp.sum != hex.EncodeToString(sum[:]) {
			t.Errorf("replay gave %d bytes (hash ok: %v), want %d", len(got), sp.sum == hex.EncodeToString(sum[:]), len(body))
		}
	}
	cases := []struct {
		name     string
		size     int
		hint     int64
		memLimit int64 // --body-memory; 0: memLimit
		free     int64 // budget left before the spool starts
		wantFile bool
		wantHeld int64 // reserved by the spool while open
	}{
		{"KnownFits", 500, 500, 0, 1000, false, 500},
		{"KnownBudgetSpent", 500, 500, 0, 499, true, 0},
		{"UnknownFitsInOneBlock", 500, -1, 0, 1000, false, memLimit},
		{"UnknownNeedsAWholeBlock", 300, -1, 0, 999, true, 0},
		{"NoBudgetAtAll", 10, -1, 0, 0, true, 0},
		{"KnownLargeInBlocks", 300 << 10, 300 << 10, 1 << 20, 300 << 10, false, 300 << 10},
		{"UnknownLargeInBlocks", 300 << 10, -1, 1 << 20, 1 << 20, false, 5 * spoolBlock},
		{"UnknownSpillsMidBody", 300 << 10, -1, 1 << 20, 2 * spoolBlock, true, 0},
		{"UnknownSpillsAtBodyMemory", 300 << 10, -1, 100 << 10, 1 << 20, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const taken = 5000
			budget := newMemoryBudget(taken + tc.free)
			budget.reserve(taken)
			body := testBody(tc.size)
			limit := cmp.Or(tc.memLimit, memLimit)
			sp, err := spoolBody(iotest.HalfReader(bytes.NewReader(body)), tc.hint, limit, 1<<20, t.TempDir(), budget, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sp.inFile() != tc.wantFile || budget.inUse()-taken != tc.wantHeld {
				t.Errorf("in file %v holding %d bytes of the budget; want %v, %d", sp.inFile(), budget.inUse()-taken, tc.wantFile, tc.wantHeld)
			}
			if budget.highWater() > budget.limit {
				t.Errorf("high water %d over the limit %d", budget.highWater(), budget.limit)
			}
			check(t, sp, body)
			sp.Close()
			sp.Close()
			if budget.inUse() != taken {
				t.Errorf("%d bytes still reserved after Close", budget.inUse()-taken)
			}
		})
	}
	errorCases := []struct {
		name    string
		body    io.Reader
		maxBody int64
		want    any
	}{
		{"ReadErrorMidBody", io.MultiReader(bytes.NewReader(testBody(400)), iotest.ErrReader(io.ErrUnexpectedEOF)), 1500, new(*BodyReadError)},
		{"TooLargeWhileInMemory", iotest.OneByteReader(bytes.NewReader(testBody(900))), 800, new(*BodyTooLargeError)},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			budget := newMemoryBudget(10 << 10)
			_, err := spoolBody(tc.body, -1, memLimit, tc.maxBody, t.TempDir(), budget, nil)
			if !errors.As(err, tc.want) {
				t.Fatalf("got %v, want %T", err, tc.want)
			}
			if budget.highWater() == 0 {
				t.Error("the body never took memory: the case does not test the release")
			}
			if budget.inUse() != 0 {
				t.Errorf("%d bytes still reserved after the error", budget.inUse())
			}
		})
	}
	t.Run("UnwritableDirAfterMemory", func(t *testing.T) {
		budget := newMemoryBudget(600)
		_, err := spoolBody(bytes.NewReader(testBody(900)), -1, memLimit, 1<<20, "/nonexistent-spool-dir", budget, nil)
		var spoolErr *SpoolError
		if !errors.As(err, &spoolErr) || budget.inUse() != 0 {
			t.Errorf("got %v with %d bytes reserved, want *SpoolError and 0", err, budget.inUse())
		}
	})
}

// TestSpoolBodyBudgetConcurrent spools many bodies at once against one
// budget: what they hold in memory never passes it, the bodies it cannot
// hold go to files, every body replays intact, and closing them all brings
// the budget back to zero.
func TestSpoolBodyBudgetConcurrent(t *testing.T) {
	const (
		memLimit = 64 << 10
		limit    = 200 << 10
		n        = 40
	)
	budget := newMemoryBudget(limit)
	dir := t.TempDir()
	spools := make([]*spool, n)
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		bodies[i] = testBody(10<<10 + i*1500)
		wg.Add(1)
		go func() {
			defer wg.Done()
			hint := int64(len(bodies[i]))
			if i%2 == 1 {
				hint = -1
			}
			sp, err := spoolBody(iotest.OneByteReader(bytes.NewReader(bodies[i])), hint, memLimit, 1<<20, dir, budget, nil)
			if err != nil {
				t.Error(err)
				return
			}
			spools[i] = sp
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	inFile := 0
	for i, sp := range spools {
		if sp.inFile() {
			inFile++
		}
		if got, _ := io.ReadAll(sp.reader()); !bytes.Equal(got, bodies[i]) {
			t.Errorf("body %d: replay differs", i)
		}
	}
	// All 40 are open at once, 1.6 MiB in all: most cannot be in memory.
	if budget.inUse() > limit || budget.highWater() > limit || inFile < n/2 {
		t.Errorf("%d bytes in use, high water %d, %d bodies in files; want at most %d, %d, and at least %d", budget.inUse(), budget.highWater(), inFile, limit, limit, n/2)
	}
	for _, sp := range spools {
		sp.Close()
	}
	if budget.inUse() != 0 {
		t.Errorf("%d bytes reserved after every spool closed", budget.inUse())
	}
}

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
	filesBefore := spoolFilesOpen.Load()
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
				heldAtBarrier = p.c.bodyBudget.inUse()
				filesAtBarrier = spoolFilesOpen.Load() - filesBefore
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
	if heldAtBarrier > total || budget.highWater() > total || filesAtBarrier < n-total/bodySize {
		t.Errorf("with every body spooled: %d bytes in memory (high water %d), %d in files; want at most %d, and at least %d in files",
			heldAtBarrier, budget.highWater(), filesAtBarrier, total, n-total/bodySize)
	}
	if !eventually(func() bool { return budget.inUse() == 0 && spoolFilesOpen.Load() == filesBefore }) {
		t.Errorf("after every request: %d bytes reserved, %d spool files open", budget.inUse(), spoolFilesOpen.Load()-filesBefore)
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
			if !eventually(func() bool { return budget.inUse() > 0 }) {
				t.Errorf("%s: the body never took memory from the budget", path)
			}
			cancel()
			pw.CloseWithError(context.Canceled)
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("%s: client got %v, want it cancelled", path, err)
			}
			if !eventually(func() bool { return budget.inUse() == 0 && spoolFilesOpen.Load() == filesBefore }) {
				t.Errorf("%s: after the cancellation %d bytes reserved, %d spool files open", path, budget.inUse(), spoolFilesOpen.Load()-filesBefore)
			}
		}
	})
}

// TestSpoolBlocksReusedOnlyAfterLastReader: a closed spool's blocks are not
// handed to the next body while a reader of them is still open (net/http
// may still be writing a request body after RoundTrip returned), so no body
// is ever sent with another's bytes; once the reader closes, they are
// reused.
func TestSpoolBlocksReusedOnlyAfterLastReader(t *testing.T) {
	budget := newMemoryBudget(4 * spoolBlock)
	first := bytes.Repeat([]byte("A"), spoolBlock)
	a, err := spoolBody(bytes.NewReader(first), -1, 1<<20, 1<<20, t.TempDir(), budget, nil)
	if err != nil {
		t.Fatal(err)
	}
	late := a.reader() // a write loop that has not finished
	a.Close()
	if budget.inUse() != 0 {
		t.Errorf("%d bytes reserved after Close", budget.inUse())
	}
	b, err := spoolBody(bytes.NewReader(bytes.Repeat([]byte("B"), spoolBlock)), -1, 1<<20, 1<<20, t.TempDir(), budget, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(late); !bytes.Equal(got, first) {
		t.Fatalf("a reader of a closed spool read %.20q..., want its own body: its blocks were reused under it", got)
	}
	late.Close()
	late.Close()
	b.Close()
	// Now the next body may take them (a sync.Pool may also drop them,
	// so the reuse itself is not asserted).
	c, err := spoolBody(bytes.NewReader(bytes.Repeat([]byte("C"), 2*spoolBlock)), -1, 1<<20, 1<<20, t.TempDir(), budget, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _ := io.ReadAll(c.reader()); !bytes.Equal(got, bytes.Repeat([]byte("C"), 2*spoolBlock)) {
		t.Error("a body in reused blocks reads back wrong")
	}
}

// BenchmarkSpoolBody spools (hashes and holds) a 1 MiB body in memory and
// reads it back, as a hashed upload does, with the body's length declared
// and not.
func BenchmarkSpoolBody(b *testing.B) {
	body := testBody(1 << 20)
	budget := newMemoryBudget(16 << 20)
	dir := b.TempDir()
	for _, hint := range []int64{int64(len(body)), -1} {
		b.Run(fmt.Sprintf("hint=%d", hint), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				sp, err := spoolBody(bytes.NewReader(body), hint, 8<<20, 5<<30, dir, budget, nil)
				if err != nil {
					b.Fatal(err)
				}
				r := sp.reader()
				io.Copy(io.Discard, r)
				r.Close()
				sp.Close()
			}
		})
	}
}
