//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestToolsDirectoryMissingOnAFreshMachine: on a machine that never ran the
// suite, $TOOLS_BIN does not exist when the npm install makes its work
// directory inside it (the go installs, which would create it, are still
// compiling). A cold `make test` failed there with
// "stat .../tools: no such file or directory".
func TestToolsDirectoryMissingOnAFreshMachine(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "never", "made", "bin")
	t.Setenv("TOOLS_BIN", fresh)
	bin, err := toolsBin()
	if err != nil {
		t.Fatal(err)
	}
	if bin != fresh {
		t.Errorf("toolsBin() = %q, want %q", bin, fresh)
	}
	// What installJSClient does first.
	tmp, err := os.MkdirTemp(bin, "jsclient-installing-")
	if err != nil {
		t.Fatalf("a work directory in a fresh tools directory: %v", err)
	}
	if filepath.Dir(tmp) != fresh {
		t.Errorf("work directory %q is not in %q", tmp, fresh)
	}
}
