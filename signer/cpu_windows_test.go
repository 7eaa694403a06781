package signer

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and kernel) the process has used. The
// FILETIMEs hold durations in 100 ns units (not dates, so not
// Filetime.Nanoseconds).
func processCPU() time.Duration {
	self, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0
	}
	var created, exited, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(self, &created, &exited, &kernel, &user); err != nil {
		return 0
	}
	ticks := func(ft syscall.Filetime) time.Duration {
		return time.Duration(uint64(ft.HighDateTime)<<32|uint64(ft.LowDateTime)) * 100
	}
	return ticks(kernel) + ticks(user)
}
