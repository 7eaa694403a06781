//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Two more roles of the test binary in the proxy benchmark, beside the
// upstream (bench_test.go): a load generator that keeps a fixed rate, and a
// bare reverse proxy to price what any net/http proxy costs.

// pacerEnv makes the test binary run one paced load (a pacerJob in JSON)
// and print its pacerResult.
const pacerEnv = "SIGV4_E2E_PACER"

// pacerJob is one paced load: GETs to URL at Rate per second for Duration.
type pacerJob struct {
	URL      string
	Rate     int
	Duration time.Duration
	// Conns bounds the requests in flight (and the connections): a request
	// due while all are busy waits for one, and its wait counts in its
	// latency.
	Conns int
}

// pacerResult is what a paced load measured.
type pacerResult struct {
	OK, Errors int
	P50, P99   time.Duration
	Elapsed    time.Duration
}

// runPacer sends job's requests at evenly spaced times, each on its own
// goroutine whether or not the earlier ones were answered (an open loop,
// as wrk2 paces), and measures each from the time it was due, not from when
// it could be sent, so that a stalled proxy cannot hide its stall by
// delaying the requests behind it. hey -q cannot do this: its workers tick
// in lockstep, so 1,000 req/s with 10 workers arrives as 100 bursts of 10.
func runPacer() int {
	var job pacerJob
	if err := json.Unmarshal([]byte(os.Getenv(pacerEnv)), &job); err != nil || job.Rate <= 0 || job.Conns <= 0 {
		fmt.Fprintf(os.Stderr, "pacer: bad job %q: %v\n", os.Getenv(pacerEnv), err)
		return 1
	}
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: job.Conns, MaxConnsPerHost: job.Conns, DisableCompression: true},
		Timeout:   30 * time.Second,
	}
	interval := time.Second / time.Duration(job.Rate)
	n := int(job.Duration / interval)
	latencies := make([]time.Duration, n)
	var failed atomic.Int64
	slots := make(chan struct{}, job.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			resp, err := client.Get(job.URL)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				failed.Add(1)
				latencies[i] = -1
				return
			}
			latencies[i] = time.Since(due)
		}()
	}
	wg.Wait()
	res := pacerResult{Elapsed: time.Since(start), Errors: int(failed.Load())}
	ok := slices.DeleteFunc(latencies, func(d time.Duration) bool { return d < 0 })
	slices.Sort(ok)
	res.OK = len(ok)
	if len(ok) > 0 {
		res.P50, res.P99 = ok[len(ok)/2], ok[len(ok)*99/100]
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

// pace runs job in its own process (its scheduling and garbage are not the
// measured processes') and returns what it measured, with the CPU time each
// of pids used meanwhile.
func pace(job pacerJob, pids map[string]int) (loadResult, error) {
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
		return loadResult{}, err
	}
	var r pacerResult
	if err := json.Unmarshal(out, &r); err != nil {
		return loadResult{}, fmt.Errorf("pacer printed %q: %w", out, err)
	}
	if r.OK == 0 {
		return loadResult{}, fmt.Errorf("pacer %s: no successful requests (%d errors)", spec, r.Errors)
	}
	return loadResult{requests: r.OK, errors: r.Errors, reqPerSec: float64(r.OK) / r.Elapsed.Seconds(), p50: r.P50, p99: r.P99, cpu: cpu}, nil
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
