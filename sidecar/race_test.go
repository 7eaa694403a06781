//go:build race

package sidecar

// raceEnabled: the race detector allocates on its own account.
const raceEnabled = true
