//go:build !unix

package sidecar

// openFileLimit returns 0: no open-file limit to derive a budget from.
func openFileLimit() int64 { return 0 }
