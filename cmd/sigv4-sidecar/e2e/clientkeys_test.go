//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// The client keys the apps hold: local, worth nothing at MinIO, which knows
// only its root keys (the sidecar's).
const (
	e2eClientKeyID  = "AKIDE2ECLIENTAPP0001"
	e2eClientSecret = "e2e-client-secret-known-to-the-proxy-only"
	e2eClientName   = "e2e-sdk-app"
)

// stsUpstream is a stand-in for STS (MinIO's STS has no GetCallerIdentity):
// it verifies every request with signer.Verify against the server's real
// keys only, counts what it receives, and answers GetCallerIdentity as STS
// does.
type stsUpstream struct {
	*httptest.Server
	received atomic.Int64
}

func newSTSUpstream(t *testing.T, s *server) *stsUpstream {
	u := &stsUpstream{}
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey}, id == s.accessKey
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.received.Add(1)
		if _, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: "sts", Region: region, HashBody: true}); err != nil {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error></ErrorResponse>", err)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/%s</Arn><UserId>%s</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>e2e-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, s.accessKey, s.accessKey)
	}))
	t.Cleanup(u.Close)
	return u
}

// clientKeysSidecar starts a sidecar in host mode with --client-keys-file,
// holding s's real keys; S3 goes to s, STS to stsUp.
func clientKeysSidecar(t *testing.T, s *server, stsUp *stsUpstream) *sidecar {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(e2eClientKeyID+" "+e2eClientSecret+" "+e2eClientName+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	minio := strings.TrimPrefix(s.endpoint, "http://")
	return startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
		"--client-keys-file", keys,
		"--connect-to", s3Domain+":=http://"+minio,
		"--connect-to", "sts."+region+".amazonaws.com:=http://"+minio,
		"--connect-to", "sts.amazonaws.com:="+stsUp.URL)
}

// sdkConfig is an app's AWS SDK configuration: the client key only, the
// proxy as its endpoint (BaseEndpoint, as AWS_ENDPOINT_URL sets it).
func sdkConfig(endpoint, keyID, secret string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) aws.Config {
	tr := &http.Transport{Proxy: nil, DialContext: dial}
	return aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		BaseEndpoint:     aws.String(endpoint),
		HTTPClient:       &http.Client{Transport: tr, Timeout: 2 * time.Minute},
		RetryMaxAttempts: 1,
	}
}

// TestClientKeysAWSSDKGo: an app using aws-sdk-go-v2 with client keys only
// and BaseEndpoint at the proxy creates a bucket, puts (a small object and
// a multipart upload), gets, lists and deletes through it against MinIO,
// which knows only the proxy's keys; in path style and in virtual-host
// style under the proxy's name (bucket.localhost). STS AssumeRole reaches
// MinIO's STS and GetCallerIdentity a verifying STS stand-in. A wrong
// secret, an unknown key and an expired date get the AWS error the SDK
// reports, from the proxy, and nothing reaches the upstream.
func TestClientKeysAWSSDKGo(t *testing.T) {
	s := serverNamed("minio")
	stsUp := newSTSUpstream(t, s)
	sc := clientKeysSidecar(t, s, stsUp)
	ctx := context.Background()
	_, port, _ := net.SplitHostPort(sc.proxyAddr)
	// bucket.localhost resolves to the proxy, as systemd-resolved and
	// browsers resolve *.localhost (RFC 6761).
	toProxy := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, sc.proxyAddr)
	}

	for _, style := range []struct {
		name, endpoint string
		pathStyle      bool
	}{
		{"path style", sc.url(), true},
		{"virtual host", "http://localhost:" + port, false},
	} {
		t.Run(style.name, func(t *testing.T) {
			client := s3.NewFromConfig(sdkConfig(style.endpoint, e2eClientKeyID, e2eClientSecret, toProxy), func(o *s3.Options) { o.UsePathStyle = style.pathStyle })
			bucket := newBucketName("e2e-clientkeys")
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
				t.Fatalf("CreateBucket: %v", err)
			}
			small := []byte("hello through client keys\n")
			keys := []string{"a/small.txt", "odd key+with=signs;and spaces.txt"}
			for _, key := range keys {
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(small), ContentType: aws.String("text/plain"), Metadata: map[string]string{"owner": "team-a"}}); err != nil {
					t.Fatalf("PutObject %s: %v", key, err)
				}
			}
			// Multipart: two parts of 5 MiB and a short one.
			big := make([]byte, 10<<20+12345)
			rand.Read(big)
			mp, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("big.bin")})
			if err != nil {
				t.Fatalf("CreateMultipartUpload: %v", err)
			}
			var parts []s3types.CompletedPart
			for i, off := int32(1), 0; off < len(big); i, off = i+1, off+5<<20 {
				end := min(off+5<<20, len(big))
				out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("big.bin"), UploadId: mp.UploadId, PartNumber: aws.Int32(i), Body: bytes.NewReader(big[off:end])})
				if err != nil {
					t.Fatalf("UploadPart %d: %v", i, err)
				}
				parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(i)})
			}
			if _, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: aws.String("big.bin"), UploadId: mp.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}); err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("big.bin")})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			body, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil || !bytes.Equal(body, big) {
				t.Fatalf("GetObject big.bin: %d bytes (%v), want the %d put", len(body), err, len(big))
			}
			got, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(keys[1])})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			body, _ = io.ReadAll(got.Body)
			got.Body.Close()
			if !bytes.Equal(body, small) || got.Metadata["owner"] != "team-a" {
				t.Errorf("GetObject: %q metadata %v", body, got.Metadata)
			}
			list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			var listed []string
			for _, o := range list.Contents {
				listed = append(listed, *o.Key)
			}
			want := append(slices.Clone(keys), "big.bin")
			slices.Sort(want)
			if !slices.Equal(listed, want) {
				t.Errorf("ListObjectsV2: %q, want %q", listed, want)
			}
			for _, key := range want {
				if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(key)}); err != nil {
					t.Errorf("DeleteObject %s: %v", key, err)
				}
			}
			if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
				t.Errorf("DeleteBucket: %v", err)
			}
			if !style.pathStyle && !strings.Contains(sc.log.String(), `"host":"`+bucket+`.localhost:`) {
				t.Errorf("the SDK did not address %s.localhost: the virtual-host style was not exercised", bucket)
			}
		})
	}

	t.Run("over TLS to the AWS host name", func(t *testing.T) {
		// Over HTTPS the SDK sends PutObject as current SDKs do with
		// checksums on: aws-chunked, STREAMING-UNSIGNED-PAYLOAD-TRAILER.
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		keyDER, err := x509.MarshalECPrivateKey(front.cert.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		keys := filepath.Join(dir, "client-keys")
		for path, content := range map[string][]byte{
			certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.cert.Certificate[0]}),
			keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			keys:     []byte(e2eClientKeyID + " " + e2eClientSecret + " " + e2eClientName + "\n"),
		} {
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		tlsSC := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
			"--client-keys-file", keys, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--connect-to", s3Domain+":=http://"+strings.TrimPrefix(s.endpoint, "http://"))
		caPEM, err := os.ReadFile(front.caFile)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(caPEM)
		seen := &headerLog{next: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, tlsSC.proxyAddr)
			},
		}}
		cfg := sdkConfig("https://"+s3Domain, e2eClientKeyID, e2eClientSecret, nil)
		cfg.HTTPClient = &http.Client{Transport: seen, Timeout: 2 * time.Minute}
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		bucket := newBucketName("e2e-clientkeys-tls")
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
		payload := make([]byte, 3<<20+7)
		rand.Read(payload)
		// Default checksums: UNSIGNED-PAYLOAD with the checksum in a
		// header; a checksum algorithm asked for: aws-chunked with the
		// checksum in a trailer.
		for _, up := range []struct {
			form string
			algo s3types.ChecksumAlgorithm
		}{
			{signer.UnsignedPayload, ""},
			{signer.StreamingUnsignedPayloadTrailer, s3types.ChecksumAlgorithmCrc32},
		} {
			form := up.form
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(form), Body: bytes.NewReader(payload), ChecksumAlgorithm: up.algo}); err != nil {
				t.Fatalf("PutObject %s: %v", form, err)
			}
			if !seen.sent(form) {
				t.Errorf("the SDK sent no %s upload (X-Amz-Content-Sha256 values: %q): the form was not exercised", form, seen.values())
			}
			got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(form)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			back, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil || !bytes.Equal(back, payload) {
				t.Fatalf("GetObject %s: %d bytes (%v), want the %d put", form, len(back), err, len(payload))
			}
			client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(form)})
		}
		client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
	})

	t.Run("sts", func(t *testing.T) {
		client := sts.NewFromConfig(sdkConfig(sc.url(), e2eClientKeyID, e2eClientSecret, nil), func(o *sts.Options) {})
		role, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/any"), RoleSessionName: aws.String("e2e")})
		if err != nil || role.Credentials == nil || aws.ToString(role.Credentials.AccessKeyId) == "" {
			t.Fatalf("AssumeRole at MinIO's STS: %v", err)
		}
		// GetCallerIdentity goes to the global endpoint when the SDK is
		// told us-east-1 with no region-specific host: here, through
		// the Host the proxy sees (its own), to the scope's endpoint,
		// sts.us-east-1, MinIO, which has no GetCallerIdentity; so it is
		// asked of sts.amazonaws.com, the stand-in, by Host.
		global := sts.NewFromConfig(sdkConfig("http://sts.amazonaws.com", e2eClientKeyID, e2eClientSecret, toProxy))
		id, err := global.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || !strings.HasSuffix(aws.ToString(id.Arn), "/"+s.accessKey) {
			t.Fatalf("GetCallerIdentity: %+v %v", id, err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := stsUp.received.Load()
		shifted := v4SignerAt(-time.Hour)
		for _, tc := range []struct {
			name, keyID, secret string
			opt                 func(*sts.Options)
			want, proxyCode     string
		}{
			{"wrong secret", e2eClientKeyID, e2eClientSecret + "x", nil, "SignatureDoesNotMatch", "client_signature_invalid"},
			{"unknown key", "AKIDE2EUNKNOWNKEY001", e2eClientSecret, nil, "InvalidClientTokenId", "client_key_unknown"},
			{"expired date", e2eClientKeyID, e2eClientSecret, func(o *sts.Options) { o.HTTPSignerV4 = shifted }, "RequestExpired", "client_signature_expired"},
		} {
			opts := []func(*sts.Options){}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			client := sts.NewFromConfig(sdkConfig("http://sts.amazonaws.com", tc.keyID, tc.secret, toProxy), opts...)
			_, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			wantSDKError(t, tc.name, err, tc.want, tc.proxyCode)
		}
		s3client := s3.NewFromConfig(sdkConfig(sc.url(), e2eClientKeyID, "not-the-secret-at-all", nil), func(o *s3.Options) { o.UsePathStyle = true })
		_, err := s3client.ListBuckets(ctx, &s3.ListBucketsInput{})
		wantSDKError(t, "s3 wrong secret", err, "SignatureDoesNotMatch", "client_signature_invalid")
		s3client = s3.NewFromConfig(sdkConfig(sc.url(), "AKIDE2EUNKNOWNKEY001", e2eClientSecret, nil), func(o *s3.Options) { o.UsePathStyle = true })
		_, err = s3client.ListBuckets(ctx, &s3.ListBucketsInput{})
		wantSDKError(t, "s3 unknown key", err, "InvalidAccessKeyId", "client_key_unknown")
		if n := stsUp.received.Load() - before; n != 0 {
			t.Errorf("the upstream received %d refused requests", n)
		}
	})
	if !strings.Contains(sc.log.String(), `"client":"`+e2eClientName+`"`) {
		t.Errorf("the request log does not name the client %s", e2eClientName)
	}
	assertNoSecrets(t, sc, e2eClientSecret)
}

// wantSDKError checks that the SDK reports code, answered by the proxy
// itself (X-Sigv4-Sidecar-Error: proxyCode).
func wantSDKError(t *testing.T, name string, err error, code, proxyCode string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != code {
		t.Errorf("%s: the SDK reports %v, want %s", name, err, code)
		return
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response.Header.Get("X-Sigv4-Sidecar-Error") != proxyCode {
		t.Errorf("%s: not the proxy's own answer %s: %v", name, proxyCode, err)
	}
}

// v4SignerAt is the SDK's signer with its clock moved by d: an app whose
// clock is off.
func v4SignerAt(d time.Duration) sts.HTTPSignerV4 { return shiftedSigner{v4.NewSigner(), d} }

type shiftedSigner struct {
	s *v4.Signer
	d time.Duration
}

func (s shiftedSigner) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) error {
	return s.s.SignHTTP(ctx, c, r, payloadHash, service, region, t.Add(s.d), opts...)
}

// TestClientKeysAWSCLI: the AWS CLI with client keys only and the proxy as
// its endpoint: s3 cp up and down (a multipart upload included), s3api
// list-objects-v2, sts get-caller-identity; a wrong secret gets the AWS
// error the CLI prints and nothing reaches the upstream.
func TestClientKeysAWSCLI(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	s := serverNamed("minio")
	stsUp := newSTSUpstream(t, s)
	sc := clientKeysSidecar(t, s, stsUp)
	bucket := newBucketName("e2e-clientkeys-cli")
	// Debian's CLI (2.9) predates AWS_ENDPOINT_URL (2.13): --endpoint-url
	// is the same setting.
	cli := func(secret string, args ...string) ([]byte, error) {
		cmd := exec.Command(tools.aws, append([]string{"--endpoint-url", sc.url(), "--output", "json"}, args...)...)
		cmd.Env = clientEnv(t, withKeys(e2eClientKeyID, secret)...)
		return run(cmd)
	}
	must := func(args ...string) []byte {
		t.Helper()
		out, err := cli(e2eClientSecret, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	must("s3api", "create-bucket", "--bucket", bucket)
	dir := t.TempDir()
	big := make([]byte, 9<<20) // above the CLI's 8 MiB multipart threshold
	rand.Read(big)
	for name, content := range map[string][]byte{"small.txt": []byte("small\n"), "big.bin": big} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
		must("s3", "cp", filepath.Join(dir, name), "s3://"+bucket+"/cli/"+name)
		must("s3", "cp", "s3://"+bucket+"/cli/"+name, filepath.Join(dir, name+".back"))
		back, err := os.ReadFile(filepath.Join(dir, name+".back"))
		if err != nil || !bytes.Equal(back, content) {
			t.Errorf("%s came back as %d bytes (%v), want %d", name, len(back), err, len(content))
		}
	}
	var list struct{ Contents []struct{ Key string } }
	if err := json.Unmarshal(must("s3api", "list-objects-v2", "--bucket", bucket), &list); err != nil || len(list.Contents) != 2 {
		t.Errorf("list-objects-v2: %+v %v", list, err)
	}
	// The CLI signs STS for us-east-1 to the endpoint given: the proxy's
	// own address, so the scope picks sts.us-east-1 (MinIO, which does
	// not know GetCallerIdentity). The stand-in answers for
	// sts.amazonaws.com: reach it by its host through the proxy as an HTTP
	// proxy would, with the CLI's --endpoint-url pointing at that host.
	stsCall := func(secret string) ([]byte, error) {
		cmd := exec.Command(tools.aws, "--endpoint-url", "http://sts.amazonaws.com", "--output", "json", "sts", "get-caller-identity")
		cmd.Env = clientEnv(t, append(withKeys(e2eClientKeyID, secret), "HTTP_PROXY="+sc.url(), "http_proxy="+sc.url())...)
		return run(cmd)
	}
	out, err := stsCall(e2eClientSecret)
	if err != nil || !bytes.Contains(out, []byte(`"Arn": "arn:aws:iam::123456789012:user/`+s.accessKey+`"`)) {
		t.Errorf("sts get-caller-identity: %s %v", out, err)
	}
	before := stsUp.received.Load()
	if _, err := stsCall("wrong-secret-wrong-secret"); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("a wrong secret: %v, want the CLI to print SignatureDoesNotMatch", err)
	}
	if _, err := cli("wrong-secret-wrong-secret", "s3api", "list-objects-v2", "--bucket", bucket); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("s3 with a wrong secret: %v, want the CLI to print SignatureDoesNotMatch", err)
	}
	if n := stsUp.received.Load() - before; n != 0 {
		t.Errorf("the upstream received %d refused requests", n)
	}
	must("s3", "rm", "--recursive", "s3://"+bucket+"/")
	must("s3api", "delete-bucket", "--bucket", bucket)
	assertNoSecrets(t, sc, e2eClientSecret)
}

// headerLog notes the X-Amz-Content-Sha256 of every request an SDK sends.
type headerLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (h *headerLog) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.seen = append(h.seen, r.Header.Get("X-Amz-Content-Sha256"))
	h.mu.Unlock()
	return h.next.RoundTrip(r)
}

func (h *headerLog) values() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.seen)
}

func (h *headerLog) sent(v string) bool { return slices.Contains(h.values(), v) }

// TestClientKeysLargeTransfer moves -large-size bytes up and down through a
// client-keys proxy against MinIO in the three ways an SDK sends an upload:
// UNSIGNED-PAYLOAD (streamed), a declared hex hash (the proxy spools and
// checks the body before sending it), and signed aws-chunked (each chunk
// verified and re-signed as it streams); it checks the content by hash and
// reports the proxy's peak RSS, bounded as for every mode.
func TestClientKeysLargeTransfer(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	s := serverNamed("minio")
	sc := clientKeysSidecar(t, s, newSTSUpstream(t, s))
	size := *flagLargeSize
	clientCreds := aws.Credentials{AccessKeyID: e2eClientKeyID, SecretAccessKey: e2eClientSecret}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Minute}
	bucket := newBucketName("e2e-clientkeys-large")
	send := func(req *http.Request, payloadHash string) *http.Response {
		t.Helper()
		req.Host = s3Domain
		if req.Header.Get("Authorization") == "" {
			req.Header.Set("X-Amz-Content-Sha256", payloadHash)
			if err := v4.NewSigner().SignHTTP(context.Background(), clientCreds, req, payloadHash, "s3", region, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	expect := func(resp *http.Response, what string) {
		t.Helper()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, sc.url()+"/"+bucket, nil)
	expect(send(req, signer.EmptyPayloadHash), "create bucket")
	for i, form := range []string{signer.UnsignedPayload, "hex", signer.StreamingPayload} {
		t.Run(form, func(t *testing.T) {
			key := "large/" + form
			h := contentHash()
			req, _ := http.NewRequest(http.MethodPut, sc.url()+"/"+bucket+"/"+key, io.TeeReader(deterministicStream(uint64(i+10), size), h))
			req.ContentLength = size
			start := time.Now()
			switch form {
			case "hex":
				// The SDK hashes a file before sending it: so does the
				// test, reading the same bytes twice.
				pre := sha256.New()
				io.Copy(pre, deterministicStream(uint64(i+10), size))
				expect(send(req, fmt.Sprintf("%x", pre.Sum(nil))), "PUT")
			case signer.StreamingPayload:
				req.Host = s3Domain
				if _, err := signer.New(nil).SignStreaming(req, signer.Credentials{AccessKeyID: e2eClientKeyID, SecretAccessKey: e2eClientSecret},
					signer.Options{Service: "s3", Region: region, Time: time.Now()}, signer.StreamingOptions{DecodedLength: size}); err != nil {
					t.Fatal(err)
				}
				expect(send(req, ""), "PUT")
			default:
				expect(send(req, form), "PUT")
			}
			up := h.Sum(nil)
			get, _ := http.NewRequest(http.MethodGet, sc.url()+"/"+bucket+"/"+key, nil)
			resp := send(get, signer.EmptyPayloadHash)
			if resp.StatusCode != http.StatusOK {
				expect(resp, "GET")
			}
			down, n, err := contentSum(resp.Body)
			resp.Body.Close()
			if err != nil || n != size || !bytes.Equal(down, up) {
				t.Fatalf("GET: %d of %d bytes (%v), content hash equal: %v", n, size, err, bytes.Equal(down, up))
			}
			rss, err := sc.peakRSS()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("client keys, %s: %d MiB up and down in %s, proxy peak RSS (VmHWM) %.1f MiB", form, size>>20, time.Since(start).Round(time.Millisecond), float64(rss)/(1<<20))
			if rss >= rssLimit {
				t.Errorf("proxy peak RSS %.1f MiB, want under %d MiB", float64(rss)/(1<<20), rssLimit>>20)
			}
			del, _ := http.NewRequest(http.MethodDelete, sc.url()+"/"+bucket+"/"+key, nil)
			expect(send(del, signer.EmptyPayloadHash), "DELETE")
		})
	}
	del, _ := http.NewRequest(http.MethodDelete, sc.url()+"/"+bucket, nil)
	expect(send(del, signer.EmptyPayloadHash), "delete bucket")
}
