package main

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time (user and kernel) the process has used,
// from GetProcessTimes; zero when it cannot be read, which keeps the
// governor on one P.
func processCPUTime() time.Duration {
	self, err := syscall.GetCurrentProcess() // a pseudo handle: nothing to close
	if err != nil {
		return 0
	}
	var created, exited, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(self, &created, &exited, &kernel, &user); err != nil {
		return 0
	}
	return filetimeDuration(kernel) + filetimeDuration(user)
}

// filetimeDuration reads a FILETIME that holds a duration, in 100 ns
// units. Filetime.Nanoseconds would be wrong here: it takes the value as a
// date and subtracts the 1601 epoch.
func filetimeDuration(ft syscall.Filetime) time.Duration {
	return time.Duration(uint64(ft.HighDateTime)<<32|uint64(ft.LowDateTime)) * 100
}
