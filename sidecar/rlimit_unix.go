//go:build unix

package sidecar

import "syscall"

// openFileLimit returns the process's soft RLIMIT_NOFILE, which the Go
// runtime has already raised to the hard limit (os package, Go 1.19); 0
// when it cannot be read.
func openFileLimit() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 {
		return 0
	}
	return int64(rl.Cur)
}
