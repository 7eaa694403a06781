//go:build unix

package body

import "os"

// createSpoolFile creates a temporary file in dir (the system's when empty)
// and unlinks it at once: the open descriptor keeps the data readable, and
// no path outlives the request, whatever happens to the process.
func createSpoolFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "sigv4-sidecar-body-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
