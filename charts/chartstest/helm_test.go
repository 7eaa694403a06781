package chartstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// helmVersion is the helm the tests run; `make test` installs it into $TOOLS_BIN when it is missing.
const helmVersion = "v3.22.0"

// kubeVersion is the cluster version the chart is rendered for (native sidecars need 1.29+; a helm built
// with `go install` otherwise assumes 1.20).
const kubeVersion = "1.33.0"

const chartDir = "../sigv4-sidecar"

// examplesDir holds the values files and the application chart docs/kubernetes.md links as examples; the
// scenarios render them, so they stay true.
const examplesDir = chartDir + "/examples"

func toolsBin() (string, error) {
	if dir := os.Getenv("TOOLS_BIN"); dir != "" {
		return filepath.Abs(dir)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "sigv4-sidecar", "bin"), nil
}

// installHelm returns the path of helm in $TOOLS_BIN, installing it with `go install` when it is not there.
var installHelm = sync.OnceValues(func() (string, error) {
	dir, err := toolsBin()
	if err != nil {
		return "", err
	}
	helm := filepath.Join(dir, "helm")
	if _, err := os.Stat(helm); err == nil {
		return helm, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("helm is not in %s and go is not on PATH to install it: %w", dir, err)
	}
	fmt.Fprintf(os.Stderr, "chartstest: helm is not in %s: go install helm %s there (about 2 minutes cold)\n", dir, helmVersion)
	cmd := exec.Command(goBin, "install", "helm.sh/helm/v3/cmd/helm@"+helmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install helm %s into %s: %v\n%s", helmVersion, dir, err, out)
	}
	return helm, nil
})

// helm runs helm with args and returns its stdout, or its error with stderr.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := installHelm()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	// A private home: the user's repositories and plugins play no part.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	return stdout.Bytes(), nil
}

// appChart returns a copy of examples/app, a user's chart that includes the sidecar templates, with this
// chart unpacked in its charts/ (what `helm dependency build` leaves there).
func appChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.CopyFS(dir, os.DirFS(examplesDir+"/app")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "charts", "sigv4-sidecar"), os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	return dir
}
