//go:build e2e

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The servers the suite verifies against, pinned.
const (
	minioModule   = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
	versityModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

	// s3Domain is the AWS host name the host-mode tests address; --connect-to
	// points it (and its virtual-hosted bucket names) at a local server.
	s3Domain = "s3.us-east-1.amazonaws.com"
	region   = "us-east-1"
)

// server is one running SigV4-verifying S3 server.
type server struct {
	name      string
	endpoint  string // http://127.0.0.1:PORT
	tlsAddr   string // 127.0.0.1:PORT of a TLS front presenting a certificate for s3Domain
	accessKey string
	secretKey string
	hasSTS    bool
	log       *lockedBuffer
}

// toolsBin is where the servers are installed: $TOOLS_BIN, or the cache
// directory the Makefile uses. It is created when missing: on a fresh
// machine the npm install (which makes its work directory inside it) starts
// before any go install has made it.
func toolsBin() (string, error) {
	dir := os.Getenv("TOOLS_BIN")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".cache", "sigv4-sidecar", "bin")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("the tools directory: %w", err)
	}
	return dir, nil
}

// installTool returns the path of name in toolsBin, go-installing module
// there first when it is missing.
func installTool(name, module, howLong string) (string, error) {
	dir, err := toolsBin()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		return path, nil
	}
	log.Printf("e2e: %s is missing from %s: go install %s (%s cold)", name, dir, module, howLong)
	start := time.Now()
	// -s -w: no symbol table or DWARF, which nothing here reads; MinIO's
	// link is the longest single step of its build.
	cmd := exec.Command("go", "install", "-ldflags=-s -w", module)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// A suite killed by its -timeout takes the build with it, instead of
	// leaving it to compile on for minutes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s: %w", module, err)
	}
	log.Printf("e2e: installed %s in %s", name, time.Since(start).Round(time.Second))
	return path, nil
}

// freePort returns a loopback TCP port that was free a moment ago, for
// servers that cannot be told to listen on port 0 and report it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startMinIO(bin, dataDir string, front *tlsFront) (*server, error) {
	s := &server{name: "minio", accessKey: "e2eminioroot", secretKey: "e2e-minio-root-secret", hasSTS: true, log: &lockedBuffer{}}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), dataDir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.accessKey, "MINIO_ROOT_PASSWORD="+s.secretKey,
		"MINIO_SITE_REGION="+region, "MINIO_DOMAIN="+s3Domain,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off",
	)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := children.start(cmd); err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	s.endpoint = "http://" + addr
	if err := waitHTTP(s.endpoint+"/minio/health/ready", true, 60*time.Second, cmd); err != nil {
		return nil, fmt.Errorf("minio: %w\n%s", err, s.log.String())
	}
	// MinIO reports ready before its IAM subsystem is up, and its STS answers
	// "Server not initialized" until then.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err = assumeRole(s, 15*time.Minute); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("minio STS not ready after 60s: %w", err)
		}
	}
	if s.tlsAddr, err = front.forward(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func startVersity(bin, dataDir string, front *tlsFront) (*server, error) {
	s := &server{name: "versitygw", accessKey: "e2eversityroot", secretKey: "e2e-versity-root-secret", log: &lockedBuffer{}}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", addr, "--access", s.accessKey, "--secret", s.secretKey,
		"--region", region, "--virtual-domain", s3Domain, "--quiet", "posix", dataDir)
	cmd.Env = os.Environ()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := children.start(cmd); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	s.endpoint = "http://" + addr
	// Any HTTP answer (an unsigned request gets 403) means it is serving.
	if err := waitHTTP(s.endpoint+"/", false, 60*time.Second, cmd); err != nil {
		return nil, fmt.Errorf("versitygw: %w\n%s", err, s.log.String())
	}
	if s.tlsAddr, err = front.forward(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// waitHTTP polls url until it answers (with 200 if want200) or the process
// exits.
func waitHTTP(url string, want200 bool, timeout time.Duration, cmd *exec.Cmd) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || !want200 {
				return nil
			}
		}
		if exited(cmd.Process.Pid) {
			return fmt.Errorf("%s exited", filepath.Base(cmd.Path))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last error %v)", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tlsFront terminates TLS for s3Domain and *.s3Domain with a certificate from
// a throwaway CA, and pipes the plain bytes to a server. It lets host mode,
// which forwards over https, reach the plain-http servers without touching
// the HTTP bytes (and so the signature) on the way.
type tlsFront struct {
	caFile string
	cert   tls.Certificate
	mu     sync.Mutex
	ls     []net.Listener
}

func newTLSFront(dir string) (*tlsFront, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigv4-sidecar e2e CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: s3Domain},
		DNSNames:  []string{s3Domain, "*." + s3Domain},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	f := &tlsFront{
		caFile: filepath.Join(dir, "e2e-ca.pem"),
		cert:   tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
	}
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, err
	}
	return f, nil
}

// forward listens on a loopback port with TLS and pipes every connection to
// backend. It returns the listening address.
func (f *tlsFront) forward(backend string) (string, error) {
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{f.cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	f.ls = append(f.ls, l)
	f.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go pipe(c, backend)
		}
	}()
	return l.Addr().String(), nil
}

func pipe(c net.Conn, backend string) {
	defer c.Close()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	<-done
}

func (f *tlsFront) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.ls {
		l.Close()
	}
}

// lockedBuffer collects a process's output for failure messages, up to
// logLimit bytes: a proxy under load logs a line per request.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

const logLimit = 8 << 20

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > logLimit {
		b.dropped += len(p)
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		return b.buf.String() + fmt.Sprintf("[%d more bytes not kept]\n", b.dropped)
	}
	return b.buf.String()
}
