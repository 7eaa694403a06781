package main

import (
	"context"
	"fmt"
)

// runVersion prints the version stamped with -ldflags "-X main.version=...".
func runVersion(_ context.Context, inv invocation) error {
	if len(inv.args) > 0 {
		return fmt.Errorf("version takes no arguments")
	}
	_, err := fmt.Fprintln(inv.stdout, "sigv4-sidecar "+version)
	return err
}
