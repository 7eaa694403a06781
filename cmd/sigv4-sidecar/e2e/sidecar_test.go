//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sidecarBin is the binary under test, built once by TestMain (or given
// with -sidecar-bin).
var sidecarBin string

// buildSidecar builds ./cmd/sigv4-sidecar into dir.
func buildSidecar(dir string) (string, error) {
	out := filepath.Join(dir, "sigv4-sidecar")
	log.Print("e2e: go build ./cmd/sigv4-sidecar (seconds once its packages are in the build cache, about a minute cold)")
	cmd := exec.Command("go", "build", "-o", out, "github.com/sigv4-sidecar/sigv4-sidecar/cmd/sigv4-sidecar")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sigv4-sidecar: %w\n%s", err, b)
	}
	return out, nil
}

// sidecar is one running sigv4-sidecar process.
type sidecar struct {
	cmd       *exec.Cmd
	proxyAddr string // host:port of the proxy listener
	adminAddr string
	log       *lockedBuffer
}

// sidecarEnv is the environment every sidecar starts from: no credentials
// and no shared config of the machine running the suite, and no IMDS.
func sidecarEnv(home string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return append(env, extra...)
}

// withKeys is the environment for static credentials.
func withKeys(accessKey, secretKey string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey}
}

// startSidecar starts the binary with args (listeners on 127.0.0.1:0 are
// added) and env, waits for its "listening" log line and for /readyz, and
// stops it when the test ends.
func startSidecar(t testing.TB, env []string, args ...string) *sidecar {
	t.Helper()
	sc, err := launchSidecar(t.TempDir(), env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sc.stop(); err != nil {
			t.Errorf("sidecar exit: %v\n%s", err, sc.log.String())
		}
		for _, s := range servers {
			assertNoSecrets(t, sc, s.secretKey)
		}
		if t.Failed() {
			t.Logf("sidecar log:\n%s", sc.log.String())
		}
	})
	return sc
}

// launchSidecar is startSidecar without a testing.TB, for the benchmark.
func launchSidecar(home string, env []string, args ...string) (*sidecar, error) {
	if env == nil {
		env = sidecarEnv(home)
	}
	full := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(sidecarBin, full...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	sc := &sidecar{cmd: cmd, log: &lockedBuffer{}}
	cmd.Stdout = sc.log
	if err := children.start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", sidecarBin, err)
	}
	listening := make(chan [2]string, 1)
	go func() {
		r := bufio.NewReader(stderr)
		found := false
		for {
			line, err := r.ReadString('\n')
			sc.log.Write([]byte(line))
			if found {
				if err != nil {
					return
				}
				continue // under load: a line per request, no parsing
			}
			var rec struct {
				Msg       string `json:"msg"`
				ProxyAddr string `json:"proxy_addr"`
				AdminAddr string `json:"admin_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				found = true
				listening <- [2]string{rec.ProxyAddr, rec.AdminAddr}
			}
			if err != nil {
				close(listening)
				return
			}
		}
	}()
	select {
	case addrs, ok := <-listening:
		if !ok || addrs[0] == "" || addrs[1] == "" {
			children.stop(cmd, time.Second)
			return nil, fmt.Errorf("sidecar %s: no \"listening\" log line with proxy_addr and admin_addr:\n%s", strings.Join(full, " "), sc.log.String())
		}
		sc.proxyAddr, sc.adminAddr = addrs[0], addrs[1]
	case <-time.After(30 * time.Second):
		children.stop(cmd, time.Second)
		return nil, fmt.Errorf("sidecar %s: not listening after 30s:\n%s", strings.Join(full, " "), sc.log.String())
	}
	if err := sc.waitReady(30 * time.Second); err != nil {
		children.stop(cmd, time.Second)
		return nil, err
	}
	return sc, nil
}

func (sc *sidecar) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + sc.adminAddr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz %d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sidecar not ready after %s: %v\n%s", timeout, err, sc.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (sc *sidecar) pid() int { return sc.cmd.Process.Pid }

// peakRSS is the sidecar's peak resident set size so far.
func (sc *sidecar) peakRSS() (int64, error) { return peakRSS(sc.pid()) }

// stop sends SIGTERM and expects a clean exit.
func (sc *sidecar) stop() error { return children.stop(sc.cmd, 15*time.Second) }

// url is the proxy's base URL.
func (sc *sidecar) url() string { return "http://" + sc.proxyAddr }
