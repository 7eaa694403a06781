package chartstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// TestGatewayExampleServes runs the binary as the chart renders it for the worked example
// (examples/gateway-routes.yaml): the rendered environment and config file, the TLS, client-CA and tokens
// files where the mounts put them. A local STS issues each route's role its own keys; the upstream verifies
// every signature. Each app reaches its own route, signed with its own role's keys only; a client on the
// other app's host, a client without a credential and a host no route matches are answered by the proxy
// with nothing forwarded.
func TestGatewayExampleServes(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sigv4-sidecar")
	if out, err := exec.Command("make", "-C", "../..", "build", "BUILD_OUT="+bin).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	// The local STS: AssumeRole answers with keys of the role asked for, and remembers the external id.
	issued := map[string]signer.Credentials{} // role name -> keys
	externalIDs := map[string]string{}        // role name -> ExternalId sent
	var stsMu sync.Mutex
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "AssumeRole" {
			http.Error(w, "want AssumeRole", http.StatusBadRequest)
			return
		}
		arn := r.Form.Get("RoleArn")
		role := arn[strings.LastIndex(arn, "/")+1:]
		creds := signer.Credentials{
			AccessKeyID:     "ASIA" + strings.ToUpper(strings.ReplaceAll(role, "-", "")),
			SecretAccessKey: "secret-of-" + role,
			SessionToken:    "token-of-" + role,
		}
		stsMu.Lock()
		issued[role] = creds
		externalIDs[role] = r.Form.Get("ExternalId")
		stsMu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>%s/gateway</Arn><AssumedRoleId>AROA%s:gateway</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339), arn, creds.AccessKeyID)
	}))
	t.Cleanup(sts.Close)

	// The upstream stands in for SQS and S3: it verifies the signature with the keys STS issued and says
	// which role's keys signed it.
	type seen struct {
		host, role, bucketOwner, authorization string
		err                                    error
	}
	got := make(chan seen, 8)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{host: r.Host, bucketOwner: r.Header.Get("X-Amz-Expected-Bucket-Owner"), authorization: r.Header.Get("Authorization")}
		_, s.err = signer.New(nil).Verify(r, func(id string) (signer.Credentials, bool) {
			stsMu.Lock()
			defer stsMu.Unlock()
			for role, c := range issued {
				if c.AccessKeyID == id {
					s.role = role
					return c, true
				}
			}
			return signer.Credentials{}, false
		}, signer.VerifyOptions{Now: time.Now(), Region: "eu-west-1"})
		got <- s
		io.WriteString(w, "ok")
	}))
	t.Cleanup(upstream.Close)

	// Render the example as helm would install it, pointing STS and every host's connection at the stubs.
	out, err := helm(t, "template", "sigv4", chartDir, "--namespace", "sigv4", "--kube-version", kubeVersion,
		"-f", gatewayRoutesValues, "--set-string", "env.STS_ENDPOINT="+sts.URL,
		"--set-string", "env.CONNECT_TO=*:="+upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeStrict(out)
	if err != nil {
		t.Fatal(err)
	}
	container := only[appsv1.Deployment](t, ms, "").Spec.Template.Spec.Containers[0]
	configMap := only[corev1.ConfigMap](t, ms, "")

	// The mounted directories, with the files the Secrets would hold.
	mounts := filepath.Join(dir, "etc")
	file := func(path string, data []byte) {
		t.Helper()
		if !strings.HasPrefix(path, "/etc/sigv4-sidecar/") {
			t.Fatalf("%s is not under a mount of the chart", path)
		}
		p := filepath.Join(mounts, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := envOf(t, container)
	for name, data := range configMap.Data {
		file("/etc/sigv4-sidecar/config/"+name, []byte(data))
	}
	serverCA := newCA(t, "cluster-ca")
	serverCert, serverKey := serverCA.leaf(t, "sigv4-sigv4-sidecar.sigv4.svc", nil)
	file(env["SIGV4_TLS_CERT_FILE"], serverCert)
	file(env["SIGV4_TLS_KEY_FILE"], serverKey)
	clientCA := newCA(t, "clients-ca")
	file(env["SIGV4_CLIENT_CA_FILE"], clientCA.certPEM)
	const reportsToken = "reports-token-0123456789abcdef"
	sum := sha256.Sum256([]byte(reportsToken))
	file(env["SIGV4_CLIENT_TOKENS_FILE"], []byte("reports "+hex.EncodeToString(sum[:])+"\n"))

	// The binary's environment: the rendered one, with paths into the mounts and loopback listeners.
	procEnv := []string{
		"AWS_ACCESS_KEY_ID=AKIDGATEWAYBASE", "AWS_SECRET_ACCESS_KEY=gateway-base-secret",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"HOME=" + dir,
	}
	for name, value := range env {
		switch name {
		case "SIGV4_LISTEN", "SIGV4_ADMIN_LISTEN":
			value = "127.0.0.1:0"
		case "SIGV4_SHUTDOWN_DELAY":
			value = "0s"
		}
		if strings.HasPrefix(value, "/etc/sigv4-sidecar/") {
			value = filepath.Join(mounts, value)
		}
		procEnv = append(procEnv, name+"="+value)
	}
	serve := exec.Command(bin, "serve")
	serve.Env = procEnv
	logs, logWriter, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	serve.Stderr = logWriter
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	logWriter.Close()
	wait := sync.OnceValue(serve.Wait)
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		wait()
		logs.Close()
	})
	proxyAddr, adminAddr, tail := waitListening(t, logs)
	if proxyAddr == "" {
		t.Fatalf("serve exited (%v) without its listening line:\n%s", wait(), tail)
	}
	_, port, _ := net.SplitHostPort(proxyAddr)

	// Wait until every route holds its credentials.
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && !strings.Contains(string(body), "routes_not_ready") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz after a minute: %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA.certPEM)
	client := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: roots, ServerName: "sigv4-sigv4-sidecar.sigv4.svc"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	}
	ordersCert, ordersKey := clientCA.leaf(t, "orders", &url.URL{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/orders/sa/orders"})
	orders, err := tls.X509KeyPair(ordersCert, ordersKey)
	if err != nil {
		t.Fatal(err)
	}
	send := func(c *http.Client, host, path, bearer string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+port+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Sigv4-Sidecar-Error")
	}

	// orders, by its certificate, on its SQS host: signed with the orders-sqs role's keys.
	if code, e := send(client(&orders), "sqs.eu-west-1.amazonaws.com", "/?Action=ListQueues", ""); code != http.StatusOK {
		t.Fatalf("orders on SQS: %d %s", code, e)
	}
	if s := <-got; s.err != nil || s.role != "orders-sqs" || s.host != "sqs.eu-west-1.amazonaws.com" {
		t.Errorf("orders' request reached the upstream as host %s signed by role %q: %v", s.host, s.role, s.err)
	}
	// reports, by its token, on its bucket: signed with reports-s3's keys, the route's header added, the
	// token not forwarded.
	if code, e := send(client(nil), "reports-bucket.s3.eu-west-1.amazonaws.com", "/2026/summary.csv", reportsToken); code != http.StatusOK {
		t.Fatalf("reports on S3: %d %s", code, e)
	}
	if s := <-got; s.err != nil || s.role != "reports-s3" || s.bucketOwner != "111122223333" || strings.Contains(s.authorization, reportsToken) {
		t.Errorf("reports' request reached the upstream signed by role %q (%v), bucket owner %q, Authorization %q", s.role, s.err, s.bucketOwner, s.authorization)
	}
	stsMu.Lock()
	if externalIDs["reports-s3"] != "reports-gateway" || externalIDs["orders-sqs"] != "" {
		t.Errorf("external ids sent to STS: %v, want reports-gateway for reports-s3 only", externalIDs)
	}
	stsMu.Unlock()

	// Refusals, each the proxy's own, with nothing forwarded.
	for _, tc := range []struct {
		name, host, bearer string
		cert               *tls.Certificate
		code               int
		reason             string
	}{
		{name: "reports on the orders host", host: "sqs.eu-west-1.amazonaws.com", bearer: reportsToken, code: http.StatusForbidden, reason: "client_not_allowed"},
		{name: "orders on the reports bucket", host: "reports-bucket.s3.eu-west-1.amazonaws.com", cert: &orders, code: http.StatusForbidden, reason: "client_not_allowed"},
		{name: "no credential", host: "sqs.eu-west-1.amazonaws.com", code: http.StatusUnauthorized, reason: "client_unauthenticated"},
		{name: "a wrong token", host: "reports-bucket.s3.eu-west-1.amazonaws.com", bearer: "not-the-token", code: http.StatusUnauthorized, reason: "client_unauthenticated"},
		{name: "a host no route matches", host: "dynamodb.eu-west-1.amazonaws.com", cert: &orders, code: http.StatusForbidden, reason: "no_route"},
	} {
		if code, e := send(client(tc.cert), tc.host, "/", tc.bearer); code != tc.code || e != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, e, tc.code, tc.reason)
		}
	}
	select {
	case s := <-got:
		t.Errorf("a refused request reached the upstream: %+v", s)
	default:
	}
}

// testCA is a certificate authority minted for one test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// leaf issues a certificate for name (a server's DNS name, and a client's CN), with uri as its URI SAN when
// set; it returns the certificate and key in PEM.
func (ca *testCA) leaf(t *testing.T, name string, uri *url.URL) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if uri != nil {
		tmpl.URIs = []*url.URL{uri}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
