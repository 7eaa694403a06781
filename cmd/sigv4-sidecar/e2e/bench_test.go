//go:build e2e

package e2e

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The proxy load benchmark (make bench): hey drives the same load at a
// minimal upstream directly and through the proxy, in the same run, and the
// report compares the two. The upstream runs in its own process (this test
// binary re-executed) so that its CPU time is its own.

// upstreamModeEnv makes the test binary serve as the benchmark's upstream.
const upstreamModeEnv = "SIGV4_E2E_UPSTREAM"

// smallBody is what the upstream answers to a small GET.
var smallBody = []byte(strings.Repeat("sigv4-sidecar benchmark\n", 10)) // 240 bytes

// runUpstream serves the benchmark upstream on a loopback port, prints the
// address on stdout, and serves until it is killed (with the suite, at the
// latest: Pdeathsig): GET /large?size=N streams N
// deterministic bytes, any other GET answers smallBody, a PUT or POST reads
// and discards its body.
func runUpstream() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.Addr().String())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut || r.Method == http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("ETag", `"0"`)
		case strings.HasSuffix(r.URL.Path, "/large"):
			size, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
			if err != nil {
				http.Error(w, "size: "+err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			_, _ = io.Copy(w, deterministicStream(7, size))
		default:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(smallBody)
		}
	})
	err = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// startUpstream re-executes the test binary as the benchmark upstream.
func startUpstream() (addr string, cmd *exec.Cmd, err error) {
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), upstreamModeEnv+"=1")
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
		return "", nil, fmt.Errorf("upstream did not print its address: %w", err)
	}
	return strings.TrimSpace(line), cmd, nil
}

// heyResult is what one hey run measured.
type heyResult struct {
	requests  int     // responses with status 200
	errors    int     // everything else: other statuses, transport errors
	reqPerSec float64 //
	p50, p99  time.Duration
	cpu       map[string]time.Duration // CPU used during the run, per process name
}

var (
	heyRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	heyPercent = regexp.MustCompile(`(?m)^\s+(\d+)%+ in ([0-9.]+) secs`)
	heyStatus  = regexp.MustCompile(`(?m)^\s+\[(\d+)\]\s+(\d+) responses`)
)

// runHey runs hey for d at rate req/s (0: as fast as it can, with 50
// workers) and returns what it measured, with the CPU time each of pids used.
func runHey(d time.Duration, rate int, method, url, bodyFile string, pids map[string]int) (heyResult, error) {
	workers, perWorker := 50, 0
	if rate > 0 {
		// hey's -q is per worker; 100 req/s per worker keeps each worker
		// well below its own limit at sub-millisecond latencies.
		workers = max(1, rate/100)
		perWorker = rate / workers
	}
	args := []string{"-z", d.String(), "-c", strconv.Itoa(workers), "-m", method, "-disable-compression", "-t", "30"}
	if perWorker > 0 {
		args = append(args, "-q", strconv.Itoa(perWorker))
	}
	if bodyFile != "" {
		args = append(args, "-D", bodyFile, "-T", "application/octet-stream")
	}
	args = append(args, url)
	before := map[string]time.Duration{}
	for name, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return heyResult{}, err
		}
		before[name] = c
	}
	out, err := exec.Command("hey", args...).CombinedOutput()
	if err != nil {
		return heyResult{}, fmt.Errorf("hey %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	res := heyResult{cpu: map[string]time.Duration{}}
	for name, pid := range pids {
		c, err := cpuTime(pid)
		if err != nil {
			return heyResult{}, err
		}
		res.cpu[name] = c - before[name]
	}
	if m := heyRPS.FindSubmatch(out); m != nil {
		res.reqPerSec, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range heyPercent.FindAllSubmatch(out, -1) {
		secs, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[1]) {
		case "50":
			res.p50 = time.Duration(secs * float64(time.Second))
		case "99":
			res.p99 = time.Duration(secs * float64(time.Second))
		}
	}
	for _, m := range heyStatus.FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		if string(m[1]) == "200" {
			res.requests += n
		} else {
			res.errors += n
		}
	}
	if i := strings.Index(string(out), "Error distribution:"); i >= 0 {
		for _, line := range strings.Split(string(out[i:]), "\n")[1:] {
			var n int
			if _, err := fmt.Sscanf(strings.TrimSpace(line), "[%d]", &n); err == nil {
				res.errors += n
			}
		}
	}
	// hey prints no percentiles for a handful of requests (a warm-up on a
	// stalled box): only measured runs need them, and they are long enough.
	if res.requests == 0 {
		return res, fmt.Errorf("hey %s: no successful requests:\n%s", strings.Join(args, " "), out)
	}
	return res, nil
}

// ensureHey installs hey with apt-get when it is missing.
func ensureHey() error {
	if _, err := exec.LookPath("hey"); err == nil {
		return nil
	}
	log.Print("e2e: hey is missing: apt-get install -y hey")
	cmd := exec.Command("apt-get", "install", "-y", "hey")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get install hey (as root): %w", err)
	}
	return nil
}

// benchSidecarArgs are the arguments of a benchmark proxy in front of the
// upstream at upAddr: extra, then -bench-sidecar-args.
func benchSidecarArgs(upAddr string, extra ...string) []string {
	args := append([]string{"--upstream", "http://" + upAddr, "--region", region, "--service", "s3"}, extra...)
	return append(args, strings.Fields(*flagBenchSidecarArgs)...)
}

// benchKeys are placeholder credentials: the benchmark upstream verifies
// nothing, so the proxy signs with AWS's documented example keys.
func benchKeys() []string {
	return withKeys("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
}

func runProxyBench(work string) error {
	if err := ensureHey(); err != nil {
		return err
	}
	upAddr, upCmd, err := startUpstream()
	if err != nil {
		return err
	}
	defer children.stop(upCmd, time.Second)
	home := filepath.Join(work, "bench-sidecar")
	if err := os.Mkdir(home, 0o755); err != nil {
		return err
	}
	sc, err := launchSidecar(home, sidecarEnv(home, benchKeys()...), benchSidecarArgs(upAddr)...)
	if err != nil {
		return err
	}
	defer sc.stop()

	putFile := filepath.Join(work, "1MiB.bin")
	f, err := os.Create(putFile)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, deterministicStream(3, 1<<20)); err != nil {
		return err
	}
	f.Close()

	var report strings.Builder
	fmt.Fprintf(&report, "Machine: %s. Each step runs %s with hey straight to the upstream, then %s through the proxy, %d times alternating; each figure is the median of its runs. Latency added = proxy minus direct at the same percentile (hey reports 0.1 ms steps).\n\n", machine(), *flagBenchTime, *flagBenchTime, *flagBenchReps)
	fmt.Fprintln(&report, "| load | rate (req/s) | direct req/s | proxy req/s | ratio | p50 direct | p50 added | p99 direct | p99 added | upstream CPU s/1000 req | proxy CPU s/1000 req | proxy/upstream CPU | errors |")
	fmt.Fprintln(&report, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	// One more proxy per explicit payload mode prices each way of signing a
	// PUT body against the default's choice.
	proxies := map[string]*sidecar{"auto": sc}
	for _, payload := range []string{"unsigned", "chunked"} {
		home := filepath.Join(work, "bench-sidecar-"+payload)
		if err := os.Mkdir(home, 0o755); err != nil {
			return err
		}
		p, err := launchSidecar(home, sidecarEnv(home, benchKeys()...), benchSidecarArgs(upAddr, "--payload", payload)...)
		if err != nil {
			return err
		}
		defer p.stop()
		proxies[payload] = p
	}

	type load struct {
		name, method, path, body string
		proxy                    *sidecar
	}
	loads := []load{
		{"small GET (240 B)", http.MethodGet, "/bucket/small", "", sc},
		{"1 MiB PUT, default --payload auto", http.MethodPut, "/bucket/put", putFile, sc},
		{"1 MiB PUT, --payload unsigned", http.MethodPut, "/bucket/put", putFile, proxies["unsigned"]},
		{"1 MiB PUT, --payload chunked", http.MethodPut, "/bucket/put", putFile, proxies["chunked"]},
	}
	for _, l := range loads {
		pids := map[string]int{"upstream": upCmd.Process.Pid, "proxy": l.proxy.pid()}
		// Warm both paths up (connection pools, the proxy's key cache).
		for _, base := range []string{"http://" + upAddr, l.proxy.url()} {
			if _, err := runHey(time.Second, 500, l.method, base+l.path, l.body, pids); err != nil {
				return err
			}
		}
		for _, rate := range []int{500, 1000, 2000, 0} {
			// Direct and proxied runs alternate, -bench-reps times, and each
			// figure is the median of its runs: the machine is shared.
			var direct, proxied []heyResult
			for range *flagBenchReps {
				d, err := runHey(*flagBenchTime, rate, l.method, "http://"+upAddr+l.path, l.body, pids)
				if err != nil {
					return err
				}
				p, err := runHey(*flagBenchTime, rate, l.method, l.proxy.url()+l.path, l.body, pids)
				if err != nil {
					return err
				}
				if d.p99 == 0 || p.p99 == 0 {
					return fmt.Errorf("%s at %d req/s: hey reported no percentiles (%d and %d requests)", l.name, rate, d.requests, p.requests)
				}
				direct, proxied = append(direct, d), append(proxied, p)
			}
			perK := func(cpu time.Duration, n int) float64 { return cpu.Seconds() / (float64(n) / 1000) }
			dRPS := median(direct, func(r heyResult) float64 { return r.reqPerSec })
			pRPS := median(proxied, func(r heyResult) float64 { return r.reqPerSec })
			dP50 := median(direct, func(r heyResult) float64 { return float64(r.p50) })
			pP50 := median(proxied, func(r heyResult) float64 { return float64(r.p50) })
			dP99 := median(direct, func(r heyResult) float64 { return float64(r.p99) })
			pP99 := median(proxied, func(r heyResult) float64 { return float64(r.p99) })
			upCPU := median(direct, func(r heyResult) float64 { return perK(r.cpu["upstream"], r.requests) })
			proxyCPU := median(proxied, func(r heyResult) float64 { return perK(r.cpu["proxy"], r.requests) })
			errors := 0
			for i := range direct {
				errors += direct[i].errors + proxied[i].errors
			}
			rateName := "saturation"
			if rate > 0 {
				rateName = strconv.Itoa(rate)
			}
			fmt.Fprintf(&report, "| %s | %s | %.0f | %.0f | %.2f | %s | %s | %s | %s | %.3f | %.3f | %.2f | %d |\n",
				l.name, rateName, dRPS, pRPS, pRPS/dRPS,
				ms(time.Duration(dP50)), ms(time.Duration(pP50-dP50)), ms(time.Duration(dP99)), ms(time.Duration(pP99-dP99)),
				upCPU, proxyCPU, proxyCPU/upCPU, errors)
			log.Printf("e2e bench: %s at %s: direct %.0f req/s p99 %s, proxy %.0f req/s p99 %s", l.name, rateName,
				dRPS, ms(time.Duration(dP99)), pRPS, ms(time.Duration(pP99)))
		}
	}
	fmt.Fprintf(&report, "\nProxy peak RSS (VmHWM) after all of the above:")
	for _, payload := range []string{"auto", "unsigned", "chunked"} {
		rss, err := proxies[payload].peakRSS()
		if err != nil {
			return err
		}
		fmt.Fprintf(&report, " --payload %s %.1f MiB;", payload, float64(rss)/(1<<20))
	}
	fmt.Fprintf(&report, "\n\n")

	fmt.Fprintf(&report, "| 1 GiB transfer | --payload | seconds up+down | proxy peak RSS (VmHWM) | under 64 MiB |\n| --- | --- | --- | --- | --- |\n")
	for _, payload := range payloadModes {
		mib, took, err := benchLargeTransfer(work, upAddr, payload)
		if err != nil {
			return err
		}
		fmt.Fprintf(&report, "| up and down | %s | %.1f | %.1f MiB | %v |\n", payload, took.Seconds(), mib, mib < rssLimit>>20)
		log.Printf("e2e bench: 1 GiB --payload %s: peak RSS %.1f MiB", payload, mib)
	}
	fmt.Fprintf(&report, "\nLoad average at the end: %s.\n", loadAverage())
	fmt.Print("\n" + report.String())
	if *flagBenchOut != "" {
		return os.WriteFile(*flagBenchOut, []byte(report.String()), 0o644)
	}
	return nil
}

// benchLargeTransfer sends 1 GiB up and 1 GiB down through a fresh proxy in
// payload mode and returns its peak RSS in MiB.
func benchLargeTransfer(work, upAddr, payload string) (float64, time.Duration, error) {
	home := filepath.Join(work, "bench-large-"+payload)
	if err := os.Mkdir(home, 0o755); err != nil {
		return 0, 0, err
	}
	sc, err := launchSidecar(home, sidecarEnv(home, benchKeys()...), benchSidecarArgs(upAddr, "--payload", payload)...)
	if err != nil {
		return 0, 0, err
	}
	defer sc.stop()
	const size = 1 << 30
	start := time.Now()
	req, err := http.NewRequest(http.MethodPut, sc.url()+"/bucket/large", deterministicStream(5, size))
	if err != nil {
		return 0, 0, err
	}
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("1 GiB PUT --payload %s: %d %s", payload, resp.StatusCode, body)
	}
	resp, err = http.Get(fmt.Sprintf("%s/bucket/large?size=%d", sc.url(), size))
	if err != nil {
		return 0, 0, err
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		return 0, 0, fmt.Errorf("1 GiB GET --payload %s: %d bytes, %v", payload, n, err)
	}
	want := sha256.New()
	_, _ = io.Copy(want, deterministicStream(7, size))
	if string(h.Sum(nil)) != string(want.Sum(nil)) {
		return 0, 0, fmt.Errorf("1 GiB GET --payload %s: content differs from what the upstream sent", payload)
	}
	took := time.Since(start)
	rss, err := sc.peakRSS()
	return float64(rss) / (1 << 20), took, err
}

// median is the median of f over rs.
func median(rs []heyResult, f func(heyResult) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// machine describes where the figures came from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s, load average %s at the start", runtime.NumCPU(), model, strings.TrimSpace(string(kernel)), runtime.Version(), loadAverage())
}

// loadAverage is the 1, 5 and 15 minute load averages: on a shared machine,
// the first thing to read next to the figures.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
