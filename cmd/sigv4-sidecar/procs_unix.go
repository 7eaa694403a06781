//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time (user and system) the process has used,
// from getrusage(2); zero when it cannot be read, which keeps the governor
// on one P.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
