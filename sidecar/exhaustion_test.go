//go:build unix

package sidecar

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// TestSpoolTotalUnbounded: the spool files of all bodies together had no
// limit (50 uploads of 100 MiB put 5,000 MiB on disk at once). With
// --spool-total, a body that would pass it is refused with 503 spool_full
// and Retry-After while another holds the space, is never forwarded, and
// leaves no file; a body declared larger than the whole limit gets 413; once
// the space is free again, a body fits.
func TestSpoolTotalUnbounded(t *testing.T) {
	dir := t.TempDir()
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Payload = PayloadSigned
	cfg.BodyMemory = 4 << 10
	cfg.SpoolDir = dir
	cfg.SpoolTotal = 1 << 20
	p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })

	// The first body is streamed and held open: 700 KiB of it on disk.
	first := testBody(700 << 10)
	pr, pw := io.Pipe()
	firstDone := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/first", "application/octet-stream", pr)
		if err != nil {
			t.Error(err)
			firstDone <- nil
			return
		}
		firstDone <- resp
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return p.c.spoolBudget.InUse() >= int64(len(first)) }) {
		t.Fatalf("the first body holds %d bytes of the spool, want %d", p.c.spoolBudget.InUse(), len(first))
	}
	filesBefore := spoolFilesOpen()

	// A second body of unknown length does not fit beside it.
	resp, err := http.Post(srv.URL+"/second", "application/octet-stream", io.MultiReader(bytes.NewReader(testBody(600<<10))))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(ErrorHeader) != CodeSpoolFull || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second body: %d %s Retry-After %q: %s; want 503 %s with Retry-After", resp.StatusCode, resp.Header.Get(ErrorHeader), resp.Header.Get("Retry-After"), msg, CodeSpoolFull)
	}
	if !bytes.Contains(msg, []byte("--spool-total")) {
		t.Errorf("message does not name --spool-total: %s", msg)
	}
	if !eventually(func() bool { return spoolFilesOpen() == filesBefore }) {
		t.Errorf("the refused body left %d spool files open", spoolFilesOpen()-filesBefore)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the spool directory holds %d entries", len(entries))
	}

	// A body declared larger than the whole limit can never fit: 413.
	big, _ := http.NewRequest(http.MethodPost, srv.URL+"/big", bytes.NewReader(testBody(2<<20)))
	resp, err = http.DefaultClient.Do(big)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(msg, []byte("--spool-total")) {
		t.Errorf("body above the limit: %d %s", resp.StatusCode, msg)
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream received %d requests before the first body ended, want 0", n)
	}

	pw.Close()
	if resp := <-firstDone; resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first body: %v", resp)
	} else {
		resp.Body.Close()
	}
	if rec := up.last(t); len(rec.Body) != len(first) || rec.VerifyErr != nil {
		t.Errorf("upstream got %d bytes (%v), want %d signed", len(rec.Body), rec.VerifyErr, len(first))
	}
	if !eventually(func() bool { return p.c.spoolBudget.InUse() == 0 }) {
		t.Errorf("%d bytes of the spool still held after every request", p.c.spoolBudget.InUse())
	}
	resp, err = http.Post(srv.URL+"/third", "application/octet-stream", io.MultiReader(bytes.NewReader(testBody(600<<10))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a body that fits once the space is free: %d", resp.StatusCode)
	}
}

// TestSlowBodyHeldForever: a client that sent a body byte every 2 s, or an
// Expect: 100-continue it never followed with its body, held its request,
// its spool file and its connection for as long as it liked. With
// --body-read-timeout, a body that stalls ends with 408, the connection
// closes, its spool file goes at once and nothing is forwarded; a body that
// keeps coming, however slowly, is never cut.
func TestSlowBodyHeldForever(t *testing.T) {
	const timeout = time.Second
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Payload = PayloadSigned
	cfg.BodyMemory = 4 << 10 // the stalled bodies below spill to files
	cfg.BodyReadTimeout = timeout
	proxyAddr, _, _, _ := runServer(t, cfg, newStaticSource())
	filesBefore := spoolFilesOpen()

	// expect408 reads the answer on conn and then the connection's end.
	expect408 := func(conn net.Conn, br *bufio.Reader) error {
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("reading the answer: %v", err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get(ErrorHeader) != CodeBodyTimeout || !resp.Close {
			return fmt.Errorf("answer %d %s (close %v): %s; want 408 %s and Connection: close", resp.StatusCode, resp.Header.Get(ErrorHeader), resp.Close, msg, CodeBodyTimeout)
		}
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			return fmt.Errorf("the connection stayed open after the 408 (read %d, %v)", n, err)
		}
		return nil
	}

	const slow = 50
	start := time.Now()
	errs := make(chan error, slow)
	for range slow {
		conn, err := net.Dial("tcp", proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "POST /q HTTP/1.1\r\nHost: q\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
		if _, err := conn.Write(append([]byte(head), testBody(8<<10)...)); err != nil {
			t.Fatal(err)
		}
		go func() { errs <- expect408(conn, bufio.NewReader(conn)) }()
	}
	dropped := 0
	for range slow {
		if err := <-errs; err != nil {
			t.Error(err)
		} else {
			dropped++
		}
	}
	t.Logf("%d of %d stalled bodies answered 408 and closed, %s after they stalled (--body-read-timeout %s)", dropped, slow, time.Since(start).Round(10*time.Millisecond), timeout)

	// Expect: 100-continue, then nothing.
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "PUT /q HTTP/1.1\r\nHost: q\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("after Expect: 100-continue: %q %v", line, err)
	}
	for line := ""; line != "\r\n"; {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if err := expect408(conn, br); err != nil {
		t.Errorf("Expect: 100-continue without a body: %v", err)
	}

	if n := up.count(); n != 0 {
		t.Errorf("the upstream received %d requests whose bodies never arrived", n)
	}
	if !eventually(func() bool { return spoolFilesOpen() == filesBefore }) {
		t.Errorf("%d spool files still open after the stalled bodies", spoolFilesOpen()-filesBefore)
	}

	// A body that trickles in, one byte every 50 ms for twice the timeout,
	// keeps resetting it.
	pr, pw := io.Pipe()
	go func() {
		for range 40 {
			time.Sleep(timeout / 20)
			pw.Write([]byte("x"))
		}
		pw.Close()
	}()
	resp, err := http.Post("http://"+proxyAddr+"/q", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(up.last(t).Body) != 40 {
		t.Errorf("a slow but steady body: %d, upstream got %d bytes", resp.StatusCode, len(up.last(t).Body))
	}
}

// TestMetricCardinalityFollowsHost: 10,000 Host values a client chose took
// /metrics from 50 series to 106,050, since every label value came from the
// host (a service name that was only the host's first label, a region its
// partition's pattern merely matched, the breaker's host). After 2,000
// distinct hosts of every shape, the proxy's series stay under a bound
// fixed by the labelled pairs, whatever the hosts were. 2,000 is enough:
// they include all 150 real pairs, more than the 64 labelled, and the old
// code made 43,677 series of them, over twice the bound.
func TestMetricCardinalityFollowsHost(t *testing.T) {
	// At most 64 labelled service and region pairs plus "other": per pair
	// 6 status classes of a counter and two 18-series histograms, 2 byte
	// counters, 4 retry reasons, a breaker gauge and 3 transition states
	// (232), plus the signing histogram by service and the unlabelled ones.
	const maxSeries = 65*232 + 65*18 + 100
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.ConnectTo = []string{"*:=http://" + up.Listener.Addr().String()}
	cfg.Resilience.RetryAttempts = 1
	cfg.Resilience.BreakerFailures = 1
	cfg.Resilience.BreakerOpen = time.Minute
	p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	_, tel := serveObserved(t, p, telemetry.Options{Observers: p.Observers()})
	metrics := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(metrics.Close)
	series := func() int {
		resp, err := http.Get(metrics.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n := 0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "sigv4_sidecar_") {
				n++
			}
		}
		return n
	}

	services := []string{"sqs", "sns", "dynamodb", "kinesis", "lambda", "s3", "sts", "logs", "monitoring", "events", "states", "ssm", "secretsmanager", "kms", "ecr"}
	regions := []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-south-1", "ap-northeast-1", "sa-east-1"}
	hostFor := func(i int) (host, path string) {
		switch i % 5 {
		case 0: // a service name nobody signs with
			return fmt.Sprintf("svc%d.us-east-1.amazonaws.com", i), "/"
		case 1: // a region only the pattern matches
			return fmt.Sprintf("sqs.us-east-%d.amazonaws.com", i), "/"
		case 2: // a bucket per request
			return fmt.Sprintf("bucket-%d.s3.us-west-2.amazonaws.com", i), "/"
		case 3: // real services in real regions: 150 pairs
			return fmt.Sprintf("%s.%s.amazonaws.com", services[i/5%len(services)], regions[i/5/len(services)%len(regions)]), "/"
		default: // an API per request, each failing: a breaker per host
			return fmt.Sprintf("api%d.execute-api.eu-west-1.amazonaws.com", i), "/fail"
		}
	}
	const hosts = 2000
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				// Straight to the handler: the client and server
				// around it would only add to the test's time.
				host, path := hostFor(i)
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Host = host
				p.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
	for i := range hosts {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	n := series()
	t.Logf("%d sigv4_sidecar_ series after %d distinct hosts (bound %d)", n, hosts, maxSeries)
	if n > maxSeries {
		t.Errorf("%d series after %d distinct hosts, want at most %d", n, hosts, maxSeries)
	}
}

// TestUpstreamConnectionBudget: nothing bounded the upstream connections
// open at once, so distinct hosts used descriptors until none were left and
// every request failed. With --max-upstream-conns, plain-HTTP and TLS
// connections draw on one budget: while every connection is in use, a
// request that needs a new one gets 503 upstream_connections_exhausted with
// Retry-After, is never sent, and counts against no breaker; once
// connections are idle, they are closed to make room, so a stream of new
// hosts goes on within the budget.
func TestUpstreamConnectionBudget(t *testing.T) {
	const budget = 4
	hold := make(chan struct{})
	arrived := make(chan struct{}, budget)
	respond := func(w http.ResponseWriter, r *http.Request, rec received) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-hold
		}
		if rec.VerifyErr != nil {
			http.Error(w, rec.VerifyErr.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, "ok")
	}
	plain := newUpstream(t)
	secure, caFile := newTLSUpstream(t)
	plain.respond, secure.respond = respond, respond
	cfg := testConfig()
	cfg.ConnectTo = []string{
		"*.execute-api.us-east-1.amazonaws.com:=http://" + plain.Listener.Addr().String(),
		"*.s3.us-east-1.amazonaws.com:=" + secure.Listener.Addr().String(),
	}
	cfg.UpstreamCAFile = caFile
	cfg.MaxUpstreamConns = budget
	cfg.Resilience.RetryAttempts = 1
	cfg.Resilience.BreakerFailures = 1
	p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })
	hostFor := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("api%d.execute-api.us-east-1.amazonaws.com", i)
		}
		return fmt.Sprintf("bucket-%d.s3.us-east-1.amazonaws.com", i)
	}
	get := func(host, path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	done := make(chan int, budget)
	for i := range budget {
		go func() { done <- get(hostFor(i), "/hold").StatusCode }()
	}
	for range budget {
		<-arrived
	}
	for _, host := range []string{hostFor(100), hostFor(101)} {
		resp := get(host, "/")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(ErrorHeader) != CodeConnsExhausted || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with every connection in use: %d %s Retry-After %q; want 503 %s with Retry-After",
				host, resp.StatusCode, resp.Header.Get(ErrorHeader), resp.Header.Get("Retry-After"), CodeConnsExhausted)
		}
		if state := p.breakers.State(host); state != resilience.Closed {
			t.Errorf("%s: breaker %s after a request the proxy never sent", host, state)
		}
	}
	if n := plain.count() + secure.count(); n != budget {
		t.Errorf("the upstreams received %d requests, want the %d held", n, budget)
	}
	close(hold)
	for range budget {
		if status := <-done; status != http.StatusOK {
			t.Errorf("a held request ended %d", status)
		}
	}

	// New hosts, one after the other: each finds the budget spent by idle
	// connections, which are closed to make room. A connection net/http is
	// still putting back may not be closable at once: the client does what
	// Retry-After says.
	for i := 200; i < 240; i++ {
		var resp *http.Response
		// Until a generous deadline, not a count of tries: on a loaded
		// machine net/http may take long to put a connection back.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if resp = get(hostFor(i), "/"); resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
				break
			}
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", hostFor(i), resp.StatusCode, resp.Header.Get(ErrorHeader))
		}
		if n := p.c.upstreamConns.inUse(); n > budget {
			t.Fatalf("%d upstream connections open, budget %d", n, budget)
		}
	}
}

// TestUpstreamConnectionBudgetFollowsOpenFileLimit: --max-upstream-conns 0
// takes the budget from RLIMIT_NOFILE (which the Go runtime has raised to
// its hard limit), keeping a quarter of it, at least 64, in reserve.
func TestUpstreamConnectionBudgetFollowsOpenFileLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur != rl.Max && rl.Max <= 1<<40 {
		t.Errorf("soft RLIMIT_NOFILE %d below the hard %d: the Go runtime raises it at start", rl.Cur, rl.Max)
	}
	p, err := New(testConfig(), newStaticSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := int64(0) // an unlimited RLIMIT_NOFILE: no budget
	if limit := int64(min(rl.Cur, 1<<24)); rl.Cur <= 1<<40 {
		want = limit - max(64, limit/4)
	}
	if got := p.c.upstreamConns.limit; got != want {
		t.Errorf("budget %d with RLIMIT_NOFILE %d, want %d", got, rl.Cur, want)
	}
	for _, tc := range []struct{ nofile, want int64 }{{1024, 768}, {256, 192}, {100, 36}, {70, 16}, {1 << 20, 786432}} {
		if got := budgetFor(tc.nofile); got != tc.want {
			t.Errorf("RLIMIT_NOFILE %d: budget %d, want %d", tc.nofile, got, tc.want)
		}
	}
	cfg := testConfig()
	cfg.MaxUpstreamConns = 10
	if p, err := New(cfg, newStaticSource(), nil); err != nil || p.c.upstreamConns.limit != 10 {
		t.Errorf("--max-upstream-conns 10: %v", err)
	}
}
