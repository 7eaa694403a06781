//go:build unix

package main

import (
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPReloads: each SIGHUP to the process reaches serve's reload
// channel, which re-reads the config file's routes (sidecar's
// TestServerReloadsRoutes), and does not end the process.
func TestSIGHUPReloads(t *testing.T) {
	// Buffered as serve's is: forwardSIGHUP never blocks, so a SIGHUP that
	// arrived before this test waited on an unbuffered channel was dropped.
	reload := make(chan struct{}, 1)
	stop := forwardSIGHUP(reload)
	defer stop()
	for range 2 {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-reload:
		case <-time.After(10 * time.Second):
			t.Fatal("a SIGHUP did not reach the reload channel")
		}
	}
}
