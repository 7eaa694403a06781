package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestProcsGovernorObserve walks the governor through a day of a sidecar:
// light load on one P, a burst of uploads that needs more, a pause inside
// the burst that must not send it back at once, and the calm after.
func TestProcsGovernorObserve(t *testing.T) {
	g := &procsGovernor{high: 4, current: 1}
	for i, c := range []struct {
		used float64
		want int
	}{
		{0.10, 1}, {0.50, 1}, {0.74, 1}, // light: one P carries it
		{0.90, 4},                       // one P is busy most of the time
		{1.80, 4}, {0.20, 4}, {0.20, 4}, // a pause inside the burst
		{0.60, 4},                                  // the burst goes on: calm starts over
		{0.30, 4}, {0.30, 4}, {0.30, 4}, {0.30, 1}, // calm for procsLowerAfter samples
		{0.30, 1}, {0.80, 4},
	} {
		got := g.observe(c.used)
		if got != c.want {
			t.Fatalf("sample %d (%.2f CPUs used on %d Ps): %d Ps next, want %d", i, c.used, g.current, got, c.want)
		}
		g.current = got
	}
	one := &procsGovernor{high: 1, current: 1}
	if got := one.observe(5); got != 1 {
		t.Errorf("with one CPU in all: %d Ps", got)
	}
}

// TestProcsGovernorRun runs the sampling loop on a fake clock and CPU
// counter: the setting follows the load, and nothing changes while the
// load does not.
func TestProcsGovernorRun(t *testing.T) {
	var mu sync.Mutex
	var cpu time.Duration
	var load float64 // CPUs used
	now := time.Unix(0, 0)
	var sets []int
	g := &procsGovernor{
		high: 2, every: time.Millisecond, current: 1,
		// Each sample, a fake half second passes at the load the test set.
		now: func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(500 * time.Millisecond); return now },
		cpuTime: func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			cpu += time.Duration(load * float64(500*time.Millisecond))
			return cpu
		},
		set: func(n int) { mu.Lock(); defer mu.Unlock(); sets = append(sets, n) },
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	setLoad := func(l float64) { mu.Lock(); load = l; mu.Unlock() }
	waitSets := func(want ...int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := append([]int(nil), sets...)
			mu.Unlock()
			if len(got) == len(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("GOMAXPROCS set to %v, want %v", got, want)
					}
				}
				return
			}
			if len(got) > len(want) || time.Now().After(deadline) {
				t.Fatalf("GOMAXPROCS set to %v, want %v", got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.run(ctx); close(done) }()
	setLoad(0.2)
	time.Sleep(20 * time.Millisecond)
	waitSets()
	setLoad(1.0)
	waitSets(2)
	setLoad(0.1)
	waitSets(2, 1)
	cancel()
	<-done
}

// TestProcessCPUTime: the counter the governor samples moves with the CPU
// this process burns, on every OS it is built for (getrusage on Unix,
// GetProcessTimes on Windows). Zero would pin --max-procs auto to one P.
func TestProcessCPUTime(t *testing.T) {
	start := processCPUTime()
	deadline := time.Now().Add(30 * time.Second)
	sum := 0
	for processCPUTime()-start < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v after burning CPU", processCPUTime())
		}
		for i := range 1_000_000 {
			sum += i
		}
	}
	if sum == 0 {
		t.Fatal("the loop did no work")
	}
}
