//go:build e2e

package e2e

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"maps"
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
	"testing"
	"time"
)

// The proxy load benchmark (make bench): hey, or the suite's own pacer
// (pace_test.go), drives the same load at a minimal upstream directly and
// through the proxy, in the same run, and the report compares the two: runs
// in turn, and for paced loads also side by side, the pacer alternating its
// requests between the two. The upstreams run in their own processes (this
// test binary re-executed) so that their CPU time is their own.

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
	return serveHelper(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
}

// serveHelper serves h on a loopback port, prints the address on stdout
// (startHelper reads it) and serves until it is killed: the body of a
// helper role of the test binary.
func serveHelper(h http.Handler) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(l.Addr().String())
	err = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// loadResult is what one load run (hey or the pacer) measured.
type loadResult struct {
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
// hey's -q is per worker, 100 req/s each here, which keeps a worker well
// below its own limit; the workers tick in lockstep, so the load arrives in
// bursts of rate/100 requests every 10 ms.
func runHey(d time.Duration, rate int, method, url, bodyFile string, pids map[string]int) (loadResult, error) {
	workers, perWorker := 50, 0
	if rate > 0 {
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
	var out []byte
	cpu, err := cpuDuring(pids, func() (err error) {
		out, err = exec.Command("hey", args...).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("hey %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return err
	})
	if err != nil {
		return loadResult{}, err
	}
	res := loadResult{cpu: cpu}
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

// contender is one target of a load step: the upstream straight, or a proxy
// in front of it, with the process whose CPU time it is charged.
type contender struct {
	name string
	url  string // base URL
	pid  int
}

// arrivals says how a step's requests arrive.
const (
	paced  = "paced"  // evenly spaced, open loop (the pacer)
	bursts = "bursts" // hey's lockstep workers: rate/100 requests every 10 ms
)

// smallGET and proxyName name the load and the contender that the targets
// are judged on.
const (
	smallGET  = "small GET (240 B)"
	proxyName = "sigv4-sidecar"
)

// step is one row group of the report: a load at a rate, sent to each
// contender in turn, -bench-reps times.
type step struct {
	load       string
	method     string
	path, body string
	rate       int // 0: saturation (hey, 50 workers)
	arrivals   string
	contenders []contender // the first is the upstream straight: the others are compared with it
}

func runProxyBench(work string) error {
	if err := ensureHey(); err != nil {
		return err
	}
	upAddr, upCmd, err := startHelper(upstreamModeEnv + "=1")
	if err != nil {
		return err
	}
	defer children.stop(upCmd, time.Second)
	// The proxies forward to a second upstream process, the same as the
	// first: side by side, the direct requests and the proxied ones each
	// reach an upstream that serves the step's rate, and the upstream the
	// direct ones reach costs what an upstream costs at that rate.
	behindAddr, behindCmd, err := startHelper(upstreamModeEnv + "=1")
	if err != nil {
		return err
	}
	defer children.stop(behindCmd, time.Second)
	// References, for the small GET at 1,000 req/s: the same upstream on one
	// P (the proxy's default), and a bare ReverseProxy on one P.
	up1Addr, up1Cmd, err := startHelper(upstreamModeEnv+"=1", "GOMAXPROCS=1")
	if err != nil {
		return err
	}
	defer children.stop(up1Cmd, time.Second)
	bareAddr, bareCmd, err := startHelper(bareProxyEnv+"="+behindAddr, "GOMAXPROCS=1")
	if err != nil {
		return err
	}
	defer children.stop(bareCmd, time.Second)

	proxies := map[string]*sidecar{}
	for _, p := range []struct {
		name string
		args []string
	}{
		{"auto", nil},
		{"unsigned", []string{"--payload", "unsigned"}},
		{"chunked", []string{"--payload", "chunked"}},
		{"go-default-procs", []string{"--max-procs", "0"}},
	} {
		home := filepath.Join(work, "bench-sidecar-"+p.name)
		if err := os.Mkdir(home, 0o755); err != nil {
			return err
		}
		sc, err := launchSidecar(home, sidecarEnv(home, benchKeys()...), benchSidecarArgs(behindAddr, p.args...)...)
		if err != nil {
			return err
		}
		defer sc.stop()
		proxies[p.name] = sc
	}

	putFile := filepath.Join(work, "1MiB.bin")
	f, err := os.Create(putFile)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, deterministicStream(3, 1<<20)); err != nil {
		return err
	}
	f.Close()

	direct := contender{"direct", "http://" + upAddr, upCmd.Process.Pid}
	proxied := func(name, label string) contender {
		return contender{label, proxies[name].url(), proxies[name].pid()}
	}
	sidecarGET := proxied("auto", proxyName)
	var steps []step
	for _, rate := range []int{500, 1000, 2000} {
		for _, arrive := range []string{paced, bursts} {
			cs := []contender{direct, sidecarGET}
			if rate == 1000 {
				cs = append(cs,
					proxied("go-default-procs", "sigv4-sidecar --max-procs 0 (Go's default)"),
					contender{"bare httputil.ReverseProxy, GOMAXPROCS=1", "http://" + bareAddr, bareCmd.Process.Pid},
					contender{"direct, upstream GOMAXPROCS=1", "http://" + up1Addr, up1Cmd.Process.Pid})
			}
			steps = append(steps, step{load: smallGET, method: http.MethodGet, path: "/bucket/small", rate: rate, arrivals: arrive, contenders: cs})
		}
	}
	steps = append(steps, step{load: smallGET, method: http.MethodGet, path: "/bucket/small", arrivals: "hey, 50 workers",
		contenders: []contender{direct, sidecarGET, proxied("go-default-procs", "sigv4-sidecar --max-procs 0 (Go's default)")}})
	for _, put := range []struct{ load, proxy string }{
		{"1 MiB PUT, default --payload auto (hashed in memory)", "auto"},
		{"1 MiB PUT, --payload unsigned", "unsigned"},
		{"1 MiB PUT, --payload chunked", "chunked"},
	} {
		for _, rate := range []int{500, 1000, 2000, 0} {
			arrive := bursts
			if rate == 0 {
				arrive = "hey, 50 workers"
			}
			steps = append(steps, step{load: put.load, method: http.MethodPut, path: "/bucket/put", body: putFile, rate: rate, arrivals: arrive,
				contenders: []contender{direct, proxied(put.proxy, "sigv4-sidecar")}})
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "Machine: %s. Each step sends its load for %s to each contender in turn, %d times; each figure is the median of its runs. Added latency = contender minus direct at the same percentile. CPU: the contender's process (the upstream's for direct runs), per 1,000 successful requests.\n\n", machine(), *flagBenchTime, *flagBenchReps)
	fmt.Fprintln(&report, "| load | rate (req/s) | arrivals | contender | req/s | p50 | p50 added | p99 | p99 added | CPU s/1000 req | x upstream CPU | errors |")
	fmt.Fprintln(&report, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var sideReport strings.Builder
	fmt.Fprintf(&sideReport, "Side by side: one pacer alternates its requests between the upstream straight and the contender, each at the step's rate, so both meet the machine in the same moments; the proxies forward to a second upstream process, so each upstream serves the step's rate. Each figure is the median over %d runs of the contender's figure against the upstream's in the same run: percentiles minus the upstream's, CPU per request divided by the upstream's.\n\n", *flagBenchSideReps)
	fmt.Fprintln(&sideReport, "| load | rate (req/s) | contender | direct p99 | p50 added | p99 added | x upstream CPU | errors |")
	fmt.Fprintln(&sideReport, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	tg := targets{side: map[int]sideRuns{}}
	warmed := map[string]bool{}
	for _, st := range steps {
		runs, err := st.measure(warmed)
		if err != nil {
			return err
		}
		st.report(runs, &report, &sideReport)
		tg.add(st, runs)
	}
	fmt.Fprintf(&report, "\n%s", sideReport.String())
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
		tg.rssMiB = append(tg.rssMiB, mib)
		log.Printf("e2e bench: 1 GiB --payload %s: peak RSS %.1f MiB", payload, mib)
	}
	fmt.Fprintln(&report)
	tg.report(&report)
	fmt.Fprintf(&report, "\nLoad average at the end: %s.\n", loadAverage())
	fmt.Print("\n" + report.String())
	if *flagBenchOut != "" {
		return os.WriteFile(*flagBenchOut, []byte(report.String()), 0o644)
	}
	return nil
}

// stepRuns is what a step's runs measured, per contender (in the step's
// order), one entry per run.
type stepRuns struct {
	inTurn [][]loadResult
	// sideBySide[i] holds the direct and contender i's results of each
	// side-by-side run (paced steps only; sideBySide[0] stays empty).
	sideBySide [][][2]loadResult
}

// measure sends the step's load to each contender in turn -bench-reps times,
// and for paced steps also to each contender side by side with the upstream
// straight -bench-side-reps times, a side-by-side round before each round in
// turn while both last. warmed records the contenders and methods already warmed up
// (connection pools, the proxy's key cache); measure adds to it.
func (st step) measure(warmed map[string]bool) (stepRuns, error) {
	pids := map[string]int{}
	for _, c := range st.contenders {
		pids[c.name] = c.pid
		if key := c.url + st.method; !warmed[key] {
			warmed[key] = true
			if _, err := runHey(time.Second, 500, st.method, c.url+st.path, st.body, nil); err != nil {
				return stepRuns{}, err
			}
		}
	}
	runs := stepRuns{inTurn: make([][]loadResult, len(st.contenders)), sideBySide: make([][][2]loadResult, len(st.contenders))}
	d := st.contenders[0]
	for rep := range max(*flagBenchReps, *flagBenchSideReps) {
		if st.arrivals == paced && rep < *flagBenchSideReps {
			for i, c := range st.contenders[1:] {
				rs, err := pace(pacerJob{URLs: []string{d.url + st.path, c.url + st.path}, Rate: st.rate, Duration: *flagBenchTime, Conns: 50},
					map[string]int{d.name: d.pid, c.name: c.pid})
				if err != nil {
					return stepRuns{}, fmt.Errorf("%s at %d req/s, %s side by side with direct: %w", st.load, st.rate, c.name, err)
				}
				runs.sideBySide[i+1] = append(runs.sideBySide[i+1], [2]loadResult(rs))
			}
		}
		if rep >= *flagBenchReps {
			continue
		}
		for i, c := range st.contenders {
			var r loadResult
			var err error
			if st.arrivals == paced {
				var rs []loadResult
				if rs, err = pace(pacerJob{URLs: []string{c.url + st.path}, Rate: st.rate, Duration: *flagBenchTime, Conns: 50}, pids); err == nil {
					r = rs[0]
				}
			} else {
				r, err = runHey(*flagBenchTime, st.rate, st.method, c.url+st.path, st.body, pids)
			}
			if err != nil {
				return stepRuns{}, fmt.Errorf("%s at %d req/s, %s: %w", st.load, st.rate, c.name, err)
			}
			if r.p99 == 0 {
				return stepRuns{}, fmt.Errorf("%s at %d req/s, %s: no percentiles (%d requests)", st.load, st.rate, c.name, r.requests)
			}
			runs.inTurn[i] = append(runs.inTurn[i], r)
		}
	}
	return runs, nil
}

// report writes the step's rows: the runs in turn to inTurn, the
// side-by-side runs to sideOut. Every figure is the median of its runs, and the
// first contender (the upstream straight) is what the others are compared
// with.
func (st step) report(runs stepRuns, inTurn, sideOut *strings.Builder) {
	rateName := "saturation"
	if st.rate > 0 {
		rateName = strconv.Itoa(st.rate)
	}
	const d = 0
	md := st.turnMedians(runs, d)
	for i, c := range st.contenders {
		errs := 0
		for _, r := range runs.inTurn[i] {
			errs += r.errors
		}
		m := st.turnMedians(runs, i)
		added50, added99 := "", ""
		if i != d {
			added50, added99 = ms(m.p50-md.p50), ms(m.p99-md.p99)
		}
		fmt.Fprintf(inTurn, "| %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %.3f | %.2f | %d |\n",
			st.load, rateName, st.arrivals, c.name, m.reqPerSec,
			ms(m.p50), added50, ms(m.p99), added99, m.cpu, m.cpu/md.cpu, errs)
		log.Printf("e2e bench: %s at %s (%s), %s: p99 %s, %.3f ms CPU per request", st.load, rateName, st.arrivals, c.name,
			ms(m.p99), m.cpu)

		side := sideFigures(runs.sideBySide[i], st.contenders[d].name, c.name)
		if side == nil {
			continue
		}
		fmt.Fprintf(sideOut, "| %s | %s | %s | %s | %s | %s | %.2f | %d |\n", st.load, rateName, c.name,
			ms(side.medianOf(func(r sideRun) time.Duration { return r.directP99 })),
			ms(side.medianOf(func(r sideRun) time.Duration { return r.added50 })),
			ms(side.medianOf(func(r sideRun) time.Duration { return r.added99 })),
			median(side, func(r sideRun) float64 { return r.cpuRatio }), side.errors())
	}
}

// turnMedians are the medians of contender i's runs in turn; cpu is in CPU
// seconds per 1,000 requests.
type turnMedians struct {
	reqPerSec, cpu float64
	p50, p99       time.Duration
}

func (st step) turnMedians(runs stepRuns, i int) turnMedians {
	rs, name := runs.inTurn[i], st.contenders[i].name
	dur := func(f func(loadResult) time.Duration) time.Duration {
		return time.Duration(median(rs, func(r loadResult) float64 { return float64(f(r)) }))
	}
	return turnMedians{
		reqPerSec: median(rs, func(r loadResult) float64 { return r.reqPerSec }),
		cpu:       median(rs, func(r loadResult) float64 { return cpuPerK(r.cpu[name], r.requests) }),
		p50:       dur(func(r loadResult) time.Duration { return r.p50 }),
		p99:       dur(func(r loadResult) time.Duration { return r.p99 }),
	}
}

// sideRun is what one side-by-side run measured of a contender against the
// upstream straight, in the same moments.
type sideRun struct {
	directP99        time.Duration
	added50, added99 time.Duration // the contender's percentile minus the upstream's
	cpuRatio         float64       // the contender's CPU per request over the upstream's
	errs             int
}

type sideRuns []sideRun

// sideFigures turns the side-by-side pairs (direct, contender) into per-run
// figures; the CPU of each is taken from the process named dName or cName.
// It returns nil for a step without side-by-side runs.
func sideFigures(pairs [][2]loadResult, dName, cName string) sideRuns {
	var rs sideRuns
	for _, p := range pairs {
		rs = append(rs, sideRun{
			directP99: p[0].p99,
			added50:   p[1].p50 - p[0].p50,
			added99:   p[1].p99 - p[0].p99,
			cpuRatio:  cpuPerK(p[1].cpu[cName], p[1].requests) / cpuPerK(p[0].cpu[dName], p[0].requests),
			errs:      p[0].errors + p[1].errors,
		})
	}
	return rs
}

func (rs sideRuns) medianOf(f func(sideRun) time.Duration) time.Duration {
	return time.Duration(median(rs, func(r sideRun) float64 { return float64(f(r)) }))
}

// each lists f of every run, in order.
func (rs sideRuns) each(f func(sideRun) string) string {
	var out []string
	for _, r := range rs {
		out = append(out, f(r))
	}
	return strings.Join(out, ", ")
}

func (rs sideRuns) errors() int {
	n := 0
	for _, r := range rs {
		n += r.errs
	}
	return n
}

// The targets of the load benchmark on a 2-CPU machine; the third is
// rssLimit, peak RSS in a 1 GiB transfer.
const (
	targetRate     = 1000             // req/s, at which p99 added is judged
	targetP99Added = time.Millisecond // p99 latency added by the proxy
	targetCPURatio = 2.0              // the proxy's CPU per small request over the upstream's
)

// targets is what the benchmark's targets are judged on: the proxy's small
// GETs arriving evenly spaced, side by side with the upstream straight (the
// arrivals whose rate is the step's, compared in the same moments), and its
// peak RSS in 1 GiB transfers. hey's bursts are reported for scale.
type targets struct {
	side   map[int]sideRuns // per rate
	bursts *turnFigures     // at targetRate, in turn
	rssMiB []float64        // per payload mode
}

// turnFigures is a contender's in-turn medians against the upstream's.
type turnFigures struct {
	added99  time.Duration
	cpuRatio float64
}

// add keeps what st measured of the proxy's small GET.
func (tg *targets) add(st step, runs stepRuns) {
	i := slices.IndexFunc(st.contenders, func(c contender) bool { return c.name == proxyName })
	if st.load != smallGET || i < 0 {
		return
	}
	switch st.arrivals {
	case paced:
		tg.side[st.rate] = sideFigures(runs.sideBySide[i], st.contenders[0].name, proxyName)
	case bursts:
		if st.rate == targetRate {
			m, md := st.turnMedians(runs, i), st.turnMedians(runs, 0)
			tg.bursts = &turnFigures{added99: m.p99 - md.p99, cpuRatio: m.cpu / md.cpu}
		}
	}
}

// report writes the verdict on each target, with the figures behind it.
func (tg targets) report(w io.Writer) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(w, "Targets, judged on the small GET through %s, evenly spaced and side by side with the upstream straight (median over the runs; each run's figure in brackets):\n\n", proxyName)
	if side := tg.side[targetRate]; len(side) > 0 {
		added := side.medianOf(func(r sideRun) time.Duration { return r.added99 })
		each := side.each(func(r sideRun) string { return fmt.Sprintf("%+.2f", r.added99.Seconds()*1000) })
		fmt.Fprintf(w, "- p99 added at most %s at %d req/s: %+.2f ms (%s): %s\n", ms(targetP99Added), targetRate,
			added.Seconds()*1000, each, verdict(added <= targetP99Added))
	} else {
		fmt.Fprintf(w, "- p99 added at most %s at %d req/s: not measured: NOT met\n", ms(targetP99Added), targetRate)
	}
	rates := slices.Sorted(maps.Keys(tg.side))
	var cpus []string
	cpuOK := len(rates) > 0
	for _, rate := range rates {
		ratio := median(tg.side[rate], func(r sideRun) float64 { return r.cpuRatio })
		cpuOK = cpuOK && ratio <= targetCPURatio
		each := tg.side[rate].each(func(r sideRun) string { return fmt.Sprintf("%.2f", r.cpuRatio) })
		cpus = append(cpus, fmt.Sprintf("%d req/s %.2fx (%s)", rate, ratio, each))
	}
	fmt.Fprintf(w, "- CPU per request at most %.0fx the upstream's: %s: %s\n", targetCPURatio, strings.Join(cpus, "; "), verdict(cpuOK))
	peak := 0.0
	for _, mib := range tg.rssMiB {
		peak = max(peak, mib)
	}
	fmt.Fprintf(w, "- peak RSS under %d MiB in 1 GiB transfers: at most %.1f MiB over %d payload modes: %s\n", rssLimit>>20, peak,
		len(tg.rssMiB), verdict(len(tg.rssMiB) > 0 && peak < rssLimit>>20))
	if tg.bursts != nil {
		fmt.Fprintf(w, "\nFor scale, not judged: in hey's bursts of %d at %d req/s, in turn, p99 added %+.2f ms and %.2fx the upstream's CPU.\n",
			targetRate/100, targetRate, tg.bursts.added99.Seconds()*1000, tg.bursts.cpuRatio)
	}
}

// cpuPerK is CPU seconds per 1,000 of n requests.
func cpuPerK(cpu time.Duration, n int) float64 { return cpu.Seconds() / (float64(n) / 1000) }

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
func median[R any](rs []R, f func(R) float64) float64 {
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

// TestTargetsVerdict pins how the benchmark judges its targets: on the
// median of the side-by-side runs, every rate's CPU, and the largest RSS.
func TestTargetsVerdict(t *testing.T) {
	runs := func(added99 []time.Duration, cpu []float64) sideRuns {
		var rs sideRuns
		for i := range added99 {
			rs = append(rs, sideRun{added99: added99[i], cpuRatio: cpu[i]})
		}
		return rs
	}
	const msec = time.Millisecond
	for _, tc := range []struct {
		name string
		tg   targets
		want []string
	}{{
		name: "met: one run over the line does not move the median",
		tg: targets{side: map[int]sideRuns{
			500:  runs([]time.Duration{msec / 2, msec / 2, msec / 2}, []float64{1.9, 1.8, 2.3}),
			1000: runs([]time.Duration{8 * msec / 10, 12 * msec / 10, 7 * msec / 10}, []float64{1.7, 1.6, 1.8}),
		}, rssMiB: []float64{23.9, 63.9}},
		want: []string{
			"- p99 added at most 1.00 ms at 1000 req/s: +0.80 ms (+0.80, +1.20, +0.70): met",
			"- CPU per request at most 2x the upstream's: 500 req/s 1.90x (1.90, 1.80, 2.30); 1000 req/s 1.70x (1.70, 1.60, 1.80): met",
			"- peak RSS under 64 MiB in 1 GiB transfers: at most 63.9 MiB over 2 payload modes: met",
		},
	}, {
		name: "not met: the median p99, one rate's CPU, the largest RSS",
		tg: targets{side: map[int]sideRuns{
			1000: runs([]time.Duration{11 * msec / 10, 9 * msec / 10, 12 * msec / 10}, []float64{1.7, 1.6, 1.8}),
			2000: runs([]time.Duration{msec}, []float64{2.1}),
		}, bursts: &turnFigures{added99: 3 * msec, cpuRatio: 2.3}, rssMiB: []float64{23.9, 64}},
		want: []string{
			"- p99 added at most 1.00 ms at 1000 req/s: +1.10 ms (+1.10, +0.90, +1.20): NOT met",
			"1000 req/s 1.70x (1.70, 1.60, 1.80); 2000 req/s 2.10x (2.10): NOT met",
			"at most 64.0 MiB over 2 payload modes: NOT met",
			"in hey's bursts of 10 at 1000 req/s, in turn, p99 added +3.00 ms and 2.30x the upstream's CPU",
		},
	}, {
		name: "nothing measured is not met",
		tg:   targets{side: map[int]sideRuns{}},
		want: []string{
			"at 1000 req/s: not measured: NOT met",
			"the upstream's: : NOT met",
			"over 0 payload modes: NOT met",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.tg.report(&b)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
