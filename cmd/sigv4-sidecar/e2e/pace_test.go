//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two more roles of the test binary in the proxy benchmark, beside the
// upstream (bench_test.go): a load generator that keeps a fixed rate, and a
// bare reverse proxy to price what any net/http proxy costs.

// pacerEnv makes the test binary run one paced load (a pacerJob in JSON)
// and print its pacerResult.
const pacerEnv = "SIGV4_E2E_PACER"

// pacerJob is one paced load: GETs at Rate per second to each of URLs for
// Duration. With several URLs the requests take turns: URL i gets every
// len(URLs)-th request, offset by an equal share of the interval, so each
// target gets its own evenly spaced Rate and all of them meet the machine
// in the same moments. That is what makes their latencies comparable on a
// shared machine, whose noise comes and goes over seconds: two runs one
// after the other see different neighbours.
type pacerJob struct {
	URLs     []string
	Rate     int
	Duration time.Duration
	// Conns bounds the requests in flight to each target (and its
	// connections): a request due while all are busy waits for one, and its
	// wait counts in its latency.
	Conns int
}

// pacerResult is what a paced load measured, per target in the job's order.
type pacerResult struct {
	Targets []pacerTarget
	Elapsed time.Duration
}

type pacerTarget struct {
	OK, Errors int
	P50, P99   time.Duration
}

// runPacer sends job's requests at evenly spaced times, each on its own
// goroutine whether or not the earlier ones were answered (an open loop,
// as wrk2 paces), and measures each from the time it was due, not from when
// it could be sent, so that a stalled proxy cannot hide its stall by
// delaying the requests behind it. hey -q cannot do this: its workers tick
// in lockstep, so 1,000 req/s with 10 workers arrives as 100 bursts of 10.
func runPacer() int {
	var job pacerJob
	if err := json.Unmarshal([]byte(os.Getenv(pacerEnv)), &job); err != nil || job.Rate <= 0 || job.Conns <= 0 || len(job.URLs) == 0 {
		fmt.Fprintf(os.Stderr, "pacer: bad job %q: %v\n", os.Getenv(pacerEnv), err)
		return 1
	}
	type target struct {
		client *http.Client
		slots  chan struct{}
	}
	k := len(job.URLs)
	interval := time.Second / time.Duration(job.Rate*k)
	n := int(job.Duration / interval)
	targets := make([]target, k)
	for i := range targets {
		targets[i] = target{
			client: &http.Client{
				Transport: &http.Transport{MaxIdleConnsPerHost: job.Conns, MaxConnsPerHost: job.Conns, DisableCompression: true},
				Timeout:   30 * time.Second,
			},
			slots: make(chan struct{}, job.Conns),
		}
	}
	latencies := make([]time.Duration, n) // request i went to target i%k; -1: failed
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		t := &targets[i%k]
		url := job.URLs[i%k]
		wg.Add(1)
		go func() {
			// The wait for a slot is the request's own, so that a target
			// with every connection busy delays neither the pacing nor the
			// other targets.
			t.slots <- struct{}{}
			defer func() { <-t.slots; wg.Done() }()
			resp, err := t.client.Get(url)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				latencies[i] = -1
				return
			}
			latencies[i] = time.Since(due)
		}()
	}
	wg.Wait()
	res := pacerResult{Elapsed: time.Since(start), Targets: make([]pacerTarget, k)}
	succeeded := make([][]time.Duration, k)
	for i, d := range latencies {
		if d < 0 {
			res.Targets[i%k].Errors++
		} else {
			succeeded[i%k] = append(succeeded[i%k], d)
		}
	}
	for i, ok := range succeeded {
		slices.Sort(ok)
		res.Targets[i].OK = len(ok)
		if len(ok) > 0 {
			res.Targets[i].P50, res.Targets[i].P99 = ok[len(ok)/2], ok[len(ok)*99/100]
		}
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

// pace runs job in its own process (its scheduling and garbage are not the
// measured processes') and returns what it measured per target, each with
// the CPU time each of pids used meanwhile.
func pace(job pacerJob, pids map[string]int) ([]loadResult, error) {
	spec, _ := json.Marshal(job)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), pacerEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	var out []byte
	cpu, err := cpuDuring(pids, func() (err error) {
		if out, err = cmd.Output(); err != nil {
			err = fmt.Errorf("pacer %s: %w", spec, err)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var r pacerResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("pacer printed %q: %w", out, err)
	}
	if len(r.Targets) != len(job.URLs) {
		return nil, fmt.Errorf("pacer %s: %d results for %d targets", spec, len(r.Targets), len(job.URLs))
	}
	results := make([]loadResult, len(r.Targets))
	for i, t := range r.Targets {
		if t.OK == 0 {
			return nil, fmt.Errorf("pacer %s: no successful requests to %s (%d errors)", spec, job.URLs[i], t.Errors)
		}
		results[i] = loadResult{requests: t.OK, errors: t.Errors, reqPerSec: float64(t.OK) / r.Elapsed.Seconds(), p50: t.P50, p99: t.P99, cpu: cpu}
	}
	return results, nil
}

// cpuDuring runs run and returns the CPU time each of pids used meanwhile.
func cpuDuring(pids map[string]int, run func() error) (map[string]time.Duration, error) {
	before := map[string]time.Duration{}
	for name, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		before[name] = c
	}
	if err := run(); err != nil {
		return nil, err
	}
	used := map[string]time.Duration{}
	for name, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		used[name] = c - before[name]
	}
	return used, nil
}

// bareProxyEnv makes the test binary serve as a bare httputil.ReverseProxy
// in front of the upstream at its value.
const bareProxyEnv = "SIGV4_E2E_BARE_PROXY"

// runBareProxy serves a ReverseProxy that does nothing but forward (no
// routing, signing, retries, telemetry or log) on a loopback port, and prints
// the address: the floor of any proxy built on net/http, two HTTP exchanges
// per request.
func runBareProxy() int {
	target, err := url.Parse("http://" + os.Getenv(bareProxyEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return serveHelper(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	})
}

// startHelper re-executes the test binary with env added and returns the
// address it prints first.
func startHelper(env ...string) (addr string, cmd *exec.Cmd, err error) {
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := children.start(cmd); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return "", nil, fmt.Errorf("%v did not print its address: %w", env, err)
	}
	return strings.TrimSpace(line), cmd, nil
}

// TestPacerSideBySide: the pacer in its own process gives each target its
// share of the requests, takes turns between them, and charges a failure to
// the target that failed, in the job's order.
func TestPacerSideBySide(t *testing.T) {
	var mu sync.Mutex
	var order []string // which target each request reached, as they came
	var bCount atomic.Int64
	serve := func(name string, fail func() bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			if fail != nil && fail() {
				http.Error(w, "no", http.StatusServiceUnavailable)
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a := serve("a", nil)
	b := serve("b", func() bool { return bCount.Add(1)%2 == 0 }) // every other request to b fails

	const rate = 50
	rs, err := pace(pacerJob{URLs: []string{a.URL + "/x", b.URL + "/x"}, Rate: rate, Duration: 2 * time.Second, Conns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results for 2 targets", len(rs))
	}
	if rs[0].requests != 2*rate || rs[0].errors != 0 {
		t.Errorf("target a: %d ok, %d errors; want %d ok, none failed", rs[0].requests, rs[0].errors, 2*rate)
	}
	if rs[1].requests != rate || rs[1].errors != rate {
		t.Errorf("target b: %d ok, %d errors; want %d of each", rs[1].requests, rs[1].errors, rate)
	}
	for i, r := range rs {
		if r.p50 <= 0 || r.p99 < r.p50 {
			t.Errorf("target %d: p50 %v, p99 %v", i, r.p50, r.p99)
		}
	}
	// At 100 req/s in all, a request is due every 10 ms and is answered in
	// well under that, so the targets take turns: a, b, a, b.
	mu.Lock()
	defer mu.Unlock()
	turns := 0
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1] {
			turns++
		}
	}
	if len(order) != 4*rate || turns < len(order)*9/10 {
		t.Errorf("%d requests with %d changes of target, want %d taking turns: %v", len(order), turns, 4*rate, order)
	}
}
