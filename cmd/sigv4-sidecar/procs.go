package main

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// procsGovernor runs --max-procs auto: the proxy runs on one P while it uses
// well under one CPU, and on the Go runtime's default (the container's CPU
// limit, at least 2, or the machine's CPUs) while it needs more.
//
// Why: a P with nothing to do still costs CPU, in spinning threads that look
// for work and in wakeups handed between threads, and a sidecar spends most
// of its life at rates where each request arrives alone. On one P a small
// proxied GET cost 16 to 23% less CPU (BENCHMARKS.md, "Proxy"). But one P caps
// what a busy proxy can do, hashing uploads above all (a 1 MiB body costs
// about 1.5 ms of CPU to sign), so the governor gives the runtime its Ps back
// as soon as one is not enough, and takes them away when the load has been
// light for a while.
type procsGovernor struct {
	high    int           // Ps under load: the runtime's default
	every   time.Duration // sampling period
	cpuTime func() time.Duration
	now     func() time.Time
	set     func(n int)
	log     *slog.Logger

	current int
	calm    int // samples in a row below procsLowerAt
}

const (
	// procsRaiseAt is the CPU use, in CPUs, at which one P is busy most of
	// the time: the next sample runs on high.
	procsRaiseAt = 0.75
	// procsLowerAt is the CPU use on high that one P would carry with room
	// to spare (on one P it takes about a fifth less).
	procsLowerAt = 0.35
	// procsLowerAfter samples in a row below procsLowerAt go back to one P,
	// so a load that pauses between bursts does not make it flap.
	procsLowerAfter = 4
)

// startProcsGovernor sets one P and adapts it to the load until the
// returned stop is called, which restores the setting found at start.
func startProcsGovernor(ctx context.Context, log *slog.Logger) (stop func()) {
	start := runtime.GOMAXPROCS(0)
	g := &procsGovernor{
		high: start, every: 500 * time.Millisecond,
		cpuTime: processCPUTime, now: time.Now,
		set: func(n int) { runtime.GOMAXPROCS(n) },
		log: log,
	}
	g.set(1)
	g.current = 1
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.run(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
		runtime.GOMAXPROCS(start)
	}
}

// run samples the process's CPU use every g.every until ctx ends, and
// changes GOMAXPROCS when observe says so.
func (g *procsGovernor) run(ctx context.Context) {
	t := time.NewTicker(g.every)
	defer t.Stop()
	lastCPU, lastAt := g.cpuTime(), g.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cpu, at := g.cpuTime(), g.now()
		wall := at.Sub(lastAt)
		if wall <= 0 {
			continue
		}
		used := float64(cpu-lastCPU) / float64(wall)
		lastCPU, lastAt = cpu, at
		if next := g.observe(used); next != g.current {
			g.log.Debug("max procs changed", "from", g.current, "to", next, "cpus_used", used)
			g.set(next)
			g.current = next
		}
	}
}

// observe takes one sample of CPU use (in CPUs) and returns the number of
// Ps to run on next. It does not change g.current.
func (g *procsGovernor) observe(used float64) int {
	if g.high <= 1 {
		return g.current
	}
	if g.current == 1 {
		g.calm = 0
		if used >= procsRaiseAt {
			return g.high
		}
		return 1
	}
	if used >= procsLowerAt {
		g.calm = 0
		return g.current
	}
	g.calm++
	if g.calm >= procsLowerAfter {
		g.calm = 0
		return 1
	}
	return g.current
}
