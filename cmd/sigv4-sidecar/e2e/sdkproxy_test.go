//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Issue 19's proof with aws-sdk-go-v2 as an app uses it: configured with a
// client key only, through HTTPS_PROXY (the SDK talks to the real AWS host
// names, through a tunnel the proxy terminates with a leaf of its MITM CA)
// and with BaseEndpoint at the proxy, default checksum settings, the S3
// transfer manager for large objects. Every upstream sits behind a tap that
// records the key each request reached it signed with: the real key only,
// and nothing at all for a request the proxy refuses.

// writeClientKeys writes the client-keys file of the tests: the app's key
// and any more lines given.
func writeClientKeys(t *testing.T, more ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client-keys")
	content := e2eClientKeyID + " " + e2eClientSecret + " " + e2eClientName + "\n" + strings.Join(more, "")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mitmCA creates a CA with `sigv4-sidecar ca init` and returns its
// certificate and key files.
func mitmCA(t *testing.T) (cert, key string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mitm-ca")
	if out, err := exec.Command(sidecarBin, "ca", "init", dir, "--days", "1").CombinedOutput(); err != nil {
		t.Fatalf("ca init: %v\n%s", err, out)
	}
	return filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
}

// tunnelSidecar starts a proxy with --client-keys-file and the MITM CA,
// holding s's real keys; S3 (virtual hosts included) and STS in us-east-1
// go to tp (s behind a tap), the global STS endpoint to stsUp.
func tunnelSidecar(t *testing.T, s *server, tp *tap, stsUp *stsUpstream, keys, caCert, caKey string) *sidecar {
	t.Helper()
	return startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
		"--client-keys-file", keys,
		"--mitm-ca-cert", caCert, "--mitm-ca-key", caKey,
		"--connect-to", s3Domain+":="+tp.url(),
		"--connect-to", "*."+s3Domain+":="+tp.url(),
		"--connect-to", "sts."+region+".amazonaws.com:="+tp.url(),
		"--connect-to", "sts.amazonaws.com:="+stsUp.URL)
}

// tunnelSDKConfig is an app's SDK configuration for HTTPS_PROXY: the
// client key only, no endpoint (the SDK resolves AWS's), its HTTP client
// sending https through the proxy (http.ProxyURL, as HTTPS_PROXY does) and
// trusting the proxy's CA (on top of the system's, as AWS_CA_BUNDLE does).
// Every request's X-Amz-Content-Sha256 is noted in the returned log.
func tunnelSDKConfig(t *testing.T, sc *sidecar, caCert, keyID, secret string) (aws.Config, *headerLog) {
	t.Helper()
	pemBytes, err := os.ReadFile(caCert)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no certificate", caCert)
	}
	proxy := &url.URL{Scheme: "http", Host: sc.proxyAddr}
	tr := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.Proxy = http.ProxyURL(proxy)
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = roots
	}).GetTransport()
	seen := &headerLog{next: tr}
	return aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		HTTPClient:       &http.Client{Transport: seen, Timeout: 10 * time.Minute},
		RetryMaxAttempts: 1,
	}, seen
}

// onlyKey checks that the upstream received requests, every one signed
// with want.
func onlyKey(t *testing.T, tp *tap, want string) {
	t.Helper()
	got := tp.accessKeys()
	if len(got) == 0 {
		t.Fatal("the upstream received no signed request")
	}
	for _, k := range got {
		if k != want {
			t.Fatalf("the upstream received a request signed with %q, want only the proxy's key %q", k, want)
		}
	}
}

// TestSDKThroughHTTPSProxyClientKeys: an app using aws-sdk-go-v2 with a
// client key only and HTTPS_PROXY pointing at the proxy (and the proxy's
// CA trusted) talks to https://s3.us-east-1.amazonaws.com and STS by their
// real names; the proxy verifies the client key inside the tunnel and
// re-signs for MinIO with MinIO's keys. S3: create a bucket, small puts
// with odd keys, a 200 MiB object with the transfer manager (multipart)
// and back, list, copy, delete-objects; STS AssumeRole at MinIO's STS and
// GetCallerIdentity at a verifying stand-in. A wrong secret and an unknown
// key get the SDK's own error from the proxy, and no upstream receives
// anything.
func TestSDKThroughHTTPSProxyClientKeys(t *testing.T) {
	s := serverNamed("minio")
	tp := newTap(t, s)
	stsUp := newSTSUpstream(t, s)
	caCert, caKey := mitmCA(t)
	sc := tunnelSidecar(t, s, tp, stsUp, writeClientKeys(t), caCert, caKey)
	ctx := context.Background()

	t.Run("s3", func(t *testing.T) {
		cfg, seen := tunnelSDKConfig(t, sc, caCert, e2eClientKeyID, e2eClientSecret)
		sdkS3Scenario(t, s3.NewFromConfig(cfg), 200<<20)
		onlyKey(t, tp, s.accessKey)
		if !strings.Contains(sc.log.String(), `"method":"CONNECT"`) {
			t.Errorf("no CONNECT in the proxy's log: the SDK did not go through the tunnel")
		}
		t.Logf("X-Amz-Content-Sha256 forms the SDK sent: %q", distinct(seen.values()))
		if rss, err := sc.peakRSS(); err == nil {
			t.Logf("proxy peak RSS (VmHWM) so far: %.1f MiB", float64(rss)/(1<<20))
		}
	})

	t.Run("sts", func(t *testing.T) {
		cfg, _ := tunnelSDKConfig(t, sc, caCert, e2eClientKeyID, e2eClientSecret)
		before := len(tp.accessKeys())
		role, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/any"), RoleSessionName: aws.String("e2e-tunnel")})
		if err != nil || role.Credentials == nil || aws.ToString(role.Credentials.AccessKeyId) == "" {
			t.Fatalf("AssumeRole at MinIO's STS through the tunnel: %v", err)
		}
		if len(tp.accessKeys()) == before {
			t.Errorf("AssumeRole did not reach MinIO")
		}
		onlyKey(t, tp, s.accessKey)
		// MinIO's STS has no GetCallerIdentity: the app asks the global
		// endpoint, which --connect-to sends to the verifying stand-in.
		global := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String("https://sts.amazonaws.com") })
		id, err := global.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || !strings.HasSuffix(aws.ToString(id.Arn), "/"+s.accessKey) {
			t.Fatalf("GetCallerIdentity through the tunnel: %+v %v", id, err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		tapBefore, stsBefore := len(tp.accessKeys()), stsUp.received.Load()
		for _, tc := range []struct {
			name, keyID, secret string
			s3Code, stsCode     string
			proxyCode           string
		}{
			{"wrong secret", e2eClientKeyID, e2eClientSecret + "x", "SignatureDoesNotMatch", "SignatureDoesNotMatch", "client_signature_invalid"},
			{"unknown key", "AKIDE2EUNKNOWNKEY001", e2eClientSecret, "InvalidAccessKeyId", "InvalidClientTokenId", "client_key_unknown"},
		} {
			cfg, _ := tunnelSDKConfig(t, sc, caCert, tc.keyID, tc.secret)
			_, err := s3.NewFromConfig(cfg).ListBuckets(ctx, &s3.ListBucketsInput{})
			wantSDKError(t, "s3, "+tc.name, err, tc.s3Code, tc.proxyCode)
			// A PutObject: the body must not reach MinIO either.
			_, err = s3.NewFromConfig(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("e2e-refused"), Key: aws.String("k"), Body: strings.NewReader("refused body")})
			wantSDKError(t, "s3 put, "+tc.name, err, tc.s3Code, tc.proxyCode)
			_, err = sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/any"), RoleSessionName: aws.String("e2e")})
			wantSDKError(t, "sts, "+tc.name, err, tc.stsCode, tc.proxyCode)
			global := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String("https://sts.amazonaws.com") })
			_, err = global.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			wantSDKError(t, "sts global, "+tc.name, err, tc.stsCode, tc.proxyCode)
		}
		if n := len(tp.accessKeys()) - tapBefore; n != 0 {
			t.Errorf("MinIO received %d refused requests", n)
		}
		if n := stsUp.received.Load() - stsBefore; n != 0 {
			t.Errorf("the STS stand-in received %d refused requests", n)
		}
	})
	if !strings.Contains(sc.log.String(), `"client":"`+e2eClientName+`"`) {
		t.Errorf("the request log does not name the client %s: the client key was not verified", e2eClientName)
	}
	assertNoSecrets(t, sc, e2eClientSecret)
}

// TestSDKClientKeysVersity: aws-sdk-go-v2 with a client key only and
// BaseEndpoint at the proxy runs the S3 scenario against versitygw, which
// knows only the proxy's keys.
func TestSDKClientKeysVersity(t *testing.T) {
	s := serverNamed("versitygw")
	tp := newTap(t, s)
	sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
		"--client-keys-file", writeClientKeys(t), "--connect-to", s3Domain+":="+tp.url())
	client := s3.NewFromConfig(sdkConfig(sc.url(), e2eClientKeyID, e2eClientSecret, nil), func(o *s3.Options) { o.UsePathStyle = true })
	sdkS3Scenario(t, client, 20<<20)
	onlyKey(t, tp, s.accessKey)
	assertNoSecrets(t, sc, e2eClientSecret)
}

// sdkS3Scenario is what an app does with S3 through the SDK and its
// transfer manager, default checksum settings on: create a bucket, put a
// small object under each odd key, upload bigSize deterministic bytes with
// the transfer manager (multipart: parts of 8 MiB), download them with it
// and compare hashes, list, copy an odd key to another, delete everything
// with DeleteObjects, delete the bucket.
func sdkS3Scenario(t *testing.T, client *s3.Client, bigSize int64) {
	t.Helper()
	ctx := context.Background()
	bucket := newBucketName("e2e-sdk")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	small := []byte("small object through the proxy\n")
	for _, key := range objectKeys {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(small), ContentType: aws.String("text/plain")}); err != nil {
			t.Fatalf("PutObject %q: %v", key, err)
		}
	}

	tm := transfermanager.New(client)
	const bigKey = "big/upload manager.bin"
	up := contentHash()
	out, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: aws.String(bigKey), Body: io.TeeReader(deterministicStream(200, bigSize), up)})
	if err != nil {
		t.Fatalf("transfer manager UploadObject of %d MiB: %v", bigSize>>20, err)
	}
	if len(out.CompletedParts) < 2 {
		t.Fatalf("the transfer manager uploaded %d MiB in %d parts: not a multipart upload", bigSize>>20, len(out.CompletedParts))
	}
	got, err := tm.GetObject(ctx, &transfermanager.GetObjectInput{Bucket: &bucket, Key: aws.String(bigKey)})
	if err != nil {
		t.Fatalf("transfer manager GetObject: %v", err)
	}
	down, n, err := contentSum(got.Body)
	if err != nil || n != bigSize || !bytes.Equal(down, up.Sum(nil)) {
		t.Fatalf("transfer manager GetObject: %d of %d bytes (%v), content hash equal: %v", n, bigSize, err, bytes.Equal(down, up.Sum(nil)))
	}

	// CopySource is the source's bucket and key, URL-encoded (S3 API
	// reference, CopyObject).
	src, dst := objectKeys[2], "copies/"+objectKeys[3]
	if _, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String(dst), CopySource: aws.String(bucket + "/" + s3Escape(src))}); err != nil {
		t.Fatalf("CopyObject %q to %q: %v", src, dst, err)
	}
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(dst)})
	if err != nil {
		t.Fatalf("GetObject %q: %v", dst, err)
	}
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || !bytes.Equal(body, small) {
		t.Errorf("GetObject of the copy: %q (%v), want %q", body, err, small)
	}

	want := append(slices.Clone(objectKeys), bigKey, dst)
	slices.Sort(want)
	if listed := listKeys(t, client, bucket); !slices.Equal(listed, want) {
		t.Errorf("ListObjectsV2: %q, want %q", listed, want)
	}
	var ids []s3types.ObjectIdentifier
	for _, key := range want {
		ids = append(ids, s3types.ObjectIdentifier{Key: aws.String(key)})
	}
	del, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &s3types.Delete{Objects: ids}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(del.Errors) > 0 || len(del.Deleted) != len(want) {
		t.Errorf("DeleteObjects: %d deleted, errors %+v; want %d deleted", len(del.Deleted), del.Errors, len(want))
	}
	if left := listKeys(t, client, bucket); len(left) != 0 {
		t.Errorf("after DeleteObjects the bucket still lists %q", left)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
}

// listKeys lists every key of bucket, page by page.
func listKeys(t *testing.T, client *s3.Client, bucket string) []string {
	t.Helper()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// distinct returns the distinct values of vs, sorted.
func distinct(vs []string) []string {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return slices.Compact(vs)
}

// TestSDKClientKeyDisallowedService: a route's match.hosts let a client key
// reach STS in us-east-1 only. With BaseEndpoint at the proxy, the SDK's
// AssumeRole goes through; S3, and STS in another region, get the
// AccessDenied the SDK parses, answered by the proxy (no_route), and
// MinIO receives nothing.
func TestSDKClientKeyDisallowedService(t *testing.T) {
	s := serverNamed("minio")
	tp := newTap(t, s)
	home := t.TempDir()
	config := fmt.Sprintf(`
region: %[1]s
client-keys-file: %[2]s
routes:
  - name: sts-only
    match: {hosts: [sts.%[1]s.amazonaws.com], clients: [%[3]s]}
    connect-to: ["sts.%[1]s.amazonaws.com:=%[4]s"]
`, region, writeClientKeys(t), e2eClientName, tp.url())
	configPath := filepath.Join(home, "gateway.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, sidecarEnv(home, withKeys(s.accessKey, s.secretKey)...), "--config", configPath)
	ctx := context.Background()
	cfg := sdkConfig(sc.url(), e2eClientKeyID, e2eClientSecret, nil)

	role, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/any"), RoleSessionName: aws.String("e2e-route")})
	if err != nil || role.Credentials == nil {
		t.Fatalf("AssumeRole on the route that admits it: %v", err)
	}
	onlyKey(t, tp, s.accessKey)
	before := len(tp.accessKeys())
	s3client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	_, err = s3client.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantSDKError(t, "s3 ListBuckets", err, "AccessDenied", "no_route")
	_, err = s3client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("e2e-denied"), Key: aws.String("k"), Body: strings.NewReader("denied body")})
	wantSDKError(t, "s3 PutObject", err, "AccessDenied", "no_route")
	_, err = sts.NewFromConfig(cfg, func(o *sts.Options) { o.Region = "eu-west-1" }).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/any"), RoleSessionName: aws.String("e2e-route")})
	wantSDKError(t, "sts in eu-west-1", err, "AccessDenied", "no_route")
	if n := len(tp.accessKeys()) - before; n != 0 {
		t.Errorf("MinIO received %d requests no route admits", n)
	}
	assertNoSecrets(t, sc, e2eClientSecret)
}

// TestClientKeysLargeTransferHTTPSProxy moves -large-size bytes up and down
// with aws-sdk-go-v2 through the HTTPS_PROXY tunnel, signed with a client
// key, against MinIO: one upload with the transfer manager (multipart, five
// parts at once, each sent aws-chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER,
// whose framing the proxy checks as it streams) and one GetObject; it
// checks the content by hash and reports the proxy's peak RSS, bounded as
// for every mode. (A single PutObject of a known-length stream with a
// checksum is sent by the SDK as one aws-chunked chunk of the whole
// length, which MinIO refuses above 16 MiB.)
func TestClientKeysLargeTransferHTTPSProxy(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	s := serverNamed("minio")
	tp := newTap(t, s)
	caCert, caKey := mitmCA(t)
	sc := tunnelSidecar(t, s, tp, newSTSUpstream(t, s), writeClientKeys(t), caCert, caKey)
	ctx := context.Background()
	size := *flagLargeSize
	cfg, seen := tunnelSDKConfig(t, sc, caCert, e2eClientKeyID, e2eClientSecret)
	client := s3.NewFromConfig(cfg)
	bucket := newBucketName("e2e-tunnel-large")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	const key = "large/through the tunnel.bin"
	start := time.Now()
	up := contentHash()
	if _, err := transfermanager.New(client).UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: aws.String(key),
		Body: io.TeeReader(deterministicStream(31, size), up)}); err != nil {
		t.Fatalf("transfer manager UploadObject of %d MiB: %v", size>>20, err)
	}
	if !seen.sent(signer.StreamingUnsignedPayloadTrailer) {
		t.Errorf("the SDK sent no %s upload (%q): the form was not exercised", signer.StreamingUnsignedPayloadTrailer, distinct(seen.values()))
	}
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	down, n, err := contentSum(got.Body)
	got.Body.Close()
	if err != nil || n != size || !bytes.Equal(down, up.Sum(nil)) {
		t.Fatalf("GetObject: %d of %d bytes (%v), content hash equal: %v", n, size, err, bytes.Equal(down, up.Sum(nil)))
	}
	took := time.Since(start)
	rss, err := sc.peakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("client keys through HTTPS_PROXY (aws-sdk-go-v2, X-Amz-Content-Sha256 %q): %d MiB up and down in %s, proxy peak RSS (VmHWM) %.1f MiB",
		distinct(seen.values()), size>>20, took.Round(time.Millisecond), float64(rss)/(1<<20))
	if rss >= rssLimit {
		t.Errorf("proxy peak RSS %.1f MiB, want under %d MiB", float64(rss)/(1<<20), rssLimit>>20)
	}
	onlyKey(t, tp, s.accessKey)
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(key)}); err != nil {
		t.Errorf("DeleteObject: %v", err)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
}
