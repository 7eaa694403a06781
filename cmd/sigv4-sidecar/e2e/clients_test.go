//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real S3 clients that nobody here wrote (the AWS CLI v2, rclone, the AWS SDK
// for JavaScript v3) drive the proxy with their own signing turned off, and,
// as the control, sign straight to the server with its keys: a scenario that
// fails only through the proxy is the proxy's fault.

// clientKeys are the object keys every client stores, lists, reads and
// deletes: the suite's odd keys, and a few whose characters mean something
// in a query or are outside what a URL may hold raw.
var clientKeys = append(append([]string{}, objectKeys...),
	"hash#question?amp&.txt",
	"pipe|brace{x}caret^grave`.txt",
	"percent%zz-and-%2e%2e.txt",
)

// headerTab is the whitespace the metadata scenarios put inside
// Content-Disposition: a TAB, except against versitygw, which keeps a TAB in its
// canonical header values while the clients' signers (botocore,
// @smithy/signature-v4) collapse it to a space, so that even a client
// signing straight to it gets SignatureDoesNotMatch.
func headerTab(s *server) string {
	if s.name == "versitygw" {
		return " "
	}
	return "\t"
}

// multipartMiB is the size of each client's one multipart upload: above the
// 100 MiB the issue asks for, in several parts.
const multipartMiB = 101

// clientTools are the clients' install locations, filled by
// startClientInstalls while the servers build and start.
type clientTools struct {
	done        chan struct{}
	aws, rclone string // absolute paths of the Debian binaries
	aptErr      error
	nodeModules string // the pinned @aws-sdk/client-s3, for NODE_PATH
	npmErr      error
}

var installs *clientTools

// Debian's binaries, by absolute path: a machine may have another aws (a
// pyenv shim, a v1 pip install) earlier on PATH.
const (
	debianAWS    = "/usr/bin/aws"
	debianRclone = "/usr/bin/rclone"
)

// startClientInstalls installs the clients in the background: apt-get for
// awscli and rclone, npm ci for the JavaScript SDK. Tests wait with
// needClients.
func startClientInstalls() {
	installs = &clientTools{done: make(chan struct{})}
	aptDone, npmDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(aptDone)
		installs.aws, installs.rclone, installs.aptErr = installDebianClients()
	}()
	go func() {
		defer close(npmDone)
		installs.nodeModules, installs.npmErr = installJSClient()
	}()
	go func() {
		<-aptDone
		<-npmDone
		close(installs.done)
	}()
}

// needClients waits for the installs and fails the test if one failed.
func needClients(t *testing.T) *clientTools {
	t.Helper()
	select {
	case <-installs.done:
	case <-time.After(10 * time.Minute):
		t.Fatal("client installs not done after 10 minutes")
	}
	if err := errors.Join(installs.aptErr, installs.npmErr); err != nil {
		t.Fatal(err)
	}
	return installs
}

func installDebianClients() (awsBin, rcloneBin string, err error) {
	var missing []string
	for pkg, bin := range map[string]string{"awscli": debianAWS, "rclone": debianRclone} {
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		log.Printf("e2e: installing %s with apt-get update and apt-get install (about a minute cold)", strings.Join(missing, " and "))
		start := time.Now()
		// Lock::Timeout: another apt-get on the machine waits its turn
		// instead of failing this one.
		for _, args := range [][]string{
			{"-o", "DPkg::Lock::Timeout=300", "update"},
			append([]string{"-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends"}, missing...),
		} {
			cmd := exec.Command("apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", "", fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(out, 2000))
			}
		}
		log.Printf("e2e: installed %s in %s", strings.Join(missing, " and "), time.Since(start).Round(time.Second))
	}
	out, err := exec.Command(debianAWS, "--version").CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("aws-cli/2.")) {
		return "", "", fmt.Errorf("%s --version: %q (%v), want the AWS CLI v2", debianAWS, out, err)
	}
	if out, err := exec.Command(debianRclone, "version").CombinedOutput(); err != nil || !bytes.HasPrefix(out, []byte("rclone v1.")) {
		return "", "", fmt.Errorf("%s version: %q (%v)", debianRclone, tail(out, 200), err)
	}
	return debianAWS, debianRclone, nil
}

// installJSClient installs testdata/jsclient's pinned package-lock with npm
// ci into a directory of the tools cache named by the lock's hash, once.
func installJSClient() (string, error) {
	bin, err := toolsBin()
	if err != nil {
		return "", err
	}
	lock, err := os.ReadFile(filepath.Join("testdata", "jsclient", "package-lock.json"))
	if err != nil {
		return "", err
	}
	manifest, err := os.ReadFile(filepath.Join("testdata", "jsclient", "package.json"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(manifest, lock...))
	dir := filepath.Join(bin, "jsclient-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return filepath.Join(dir, "node_modules"), nil
	}
	log.Printf("e2e: installing @aws-sdk/client-s3 with npm ci into %s (about 30 seconds cold)", dir)
	start := time.Now()
	// Installed beside and renamed into place: a run that dies half-way
	// leaves no half-installed directory for the next one to trust.
	tmp, err := os.MkdirTemp(bin, "jsclient-installing-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	home, err := os.MkdirTemp("", "e2e-npm-home-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	for name, b := range map[string][]byte{"package.json": manifest, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"npm_config_cache=" + filepath.Join(bin, "npm-cache"),
		"npm_config_update_notifier=false",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci for %s: %w\n%s", dir, err, tail(out, 2000))
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another run may have finished first.
		if _, serr := os.Stat(filepath.Join(dir, "node_modules")); serr != nil {
			return "", err
		}
	}
	log.Printf("e2e: installed @aws-sdk/client-s3 in %s", time.Since(start).Round(time.Second))
	return filepath.Join(dir, "node_modules"), nil
}

// route is how a client reaches a server: through a proxy that signs with
// the server's keys while the client signs nothing, or straight to the
// server with its keys (the control).
type route struct {
	server    *server
	name      string // "proxy" or "direct"
	endpoint  string
	accessKey string // "" through the proxy
	secretKey string
}

// routes starts a fixed-mode proxy in front of s for the test and returns
// both routes.
func routes(t *testing.T, s *server) []route {
	t.Helper()
	sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), sidecarArgs(s, fixedMode)...)
	return []route{
		{server: s, name: "proxy", endpoint: sc.url()},
		{server: s, name: "direct", endpoint: s.endpoint, accessKey: s.accessKey, secretKey: s.secretKey},
	}
}

// clientEnv is the environment every client runs in: nothing of the
// machine's AWS or rclone configuration, no IMDS, no proxy variables, HOME a
// temporary directory.
func clientEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	empty := filepath.Join(home, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"LANG=C.UTF-8",
		"AWS_CONFIG_FILE=" + empty,
		"AWS_SHARED_CREDENTIALS_FILE=" + empty,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_DEFAULT_REGION=" + region,
		"AWS_PAGER=",
		"RCLONE_CONFIG=" + empty,
	}
	return append(env, extra...)
}

// run runs cmd and returns its stdout, or an error with its stderr.
func run(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cmd.Stdin == nil {
		cmd.Stdin = strings.NewReader("")
	}
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(stderr.Bytes(), 4000))
	}
	return stdout.Bytes(), nil
}

// tail is the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte("..."), b[len(b)-n:]...)
	}
	return b
}

// writeFiles writes n small files in nested directories under dir, for a
// sync.
func writeFiles(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		rel := fmt.Sprintf("d%d/sub %d/file-%03d.txt", i%5, i%3, i)
		content := []byte(strings.Repeat(fmt.Sprintf("file %d\n", i), 1+i%50))
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), content, 0o644); err != nil {
			t.Fatal(err)
		}
		files[rel] = content
	}
	return files
}

// checkFiles fails the test unless dir holds exactly files.
func checkFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		want, ok := files[rel]
		got, rerr := os.ReadFile(path)
		switch {
		case rerr != nil:
			return rerr
		case !ok:
			t.Errorf("%s: not a file that was synced", rel)
		case !bytes.Equal(got, want):
			t.Errorf("%s: %q, want %q", rel, tail(got, 60), tail(want, 60))
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(files) {
		t.Errorf("%d files synced back, want %d", seen, len(files))
	}
}

// writeBigFile writes size deterministic bytes to path and returns their
// content hash.
func writeBigFile(t *testing.T, path string, seed uint64, size int64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := contentHash()
	if _, err := io.Copy(io.MultiWriter(f, h), deterministicStream(seed, size)); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

// fileSum is the content hash of the file at path.
func fileSum(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, _, err := contentSum(f)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
