package sidecar

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// A client key the tests hand to "apps": worth nothing upstream, which
// accepts only testKeyID.
const (
	clientKeyID     = "AKIDCLIENTKEYAPP0001"
	clientKeySecret = "clientSECRETnotAWSkeyAAAAAAAAAAAAAAAAAAA"
	clientKeyName   = "billing-app"
)

// clientKeysProxy starts a host-mode proxy whose AWS hosts go to up, with
// one client key, and returns it with its logs.
func clientKeysProxy(t *testing.T, up *verifyingUpstream) (*httptest.Server, *logBuffer) {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte("# app keys\n"+clientKeyID+" "+clientKeySecret+" "+clientKeyName+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ConnectTo = []string{"*.amazonaws.com:=" + up.URL}
	cfg.Listener.ClientKeysFile = keys
	srv, logs := startProxy(t, cfg, newStaticSource())
	t.Cleanup(func() {
		if strings.Contains(logs.String(), clientKeySecret) {
			t.Errorf("a client secret reached the log:\n%s", logs)
		}
	})
	return srv, logs
}

// sdkRequest builds a request to the proxy for host, as an SDK configured
// with the proxy as its endpoint would, signed with keyID/secret at when;
// payload is the hash to sign with and, unless "", the
// X-Amz-Content-Sha256 header sent.
func sdkRequest(t *testing.T, proxy, method, host, path, service string, body []byte, header http.Header, keyID, secret string, when time.Time, declare bool) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, proxy+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if v := req.Header.Get("X-Amz-Content-Sha256"); v != "" {
		payload = v
	} else if declare {
		req.Header.Set("X-Amz-Content-Sha256", payload)
	}
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req, payload, service, "us-east-1", when)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// TestClientKeysVerifiedAndResigned: requests an SDK signs with a client
// key (S3 with a declared hash, S3 UNSIGNED-PAYLOAD, a query API whose body
// hash is signed but not declared, an S3 presigned GET) are verified, named
// for the key's client, and reach the upstream signed with the proxy's
// keys only, with the same body, the same declared X-Amz-Content-Sha256 and
// every header the client signed still signed.
func TestClientKeysVerifiedAndResigned(t *testing.T) {
	up := newUpstream(t)
	proxy, logs := clientKeysProxy(t, up)
	now := time.Now()
	meta := http.Header{"X-Amz-Meta-Owner": {"team-a"}, "Content-Type": {"text/plain"}}

	t.Run("s3 put with a declared hash", func(t *testing.T) {
		body := []byte("hello from an SDK")
		req := sdkRequest(t, proxy.URL, http.MethodPut, "s3.us-east-1.amazonaws.com", "/bucket/key.txt", "s3", body, meta, clientKeyID, clientKeySecret, now, true)
		declared := req.Header.Get("X-Amz-Content-Sha256")
		resp, answer := do(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, answer)
		}
		got := up.last(t)
		if got.VerifyErr != nil || got.KeyID != testKeyID || string(got.Body) != string(body) {
			t.Fatalf("upstream: key %q body %q verify %v", got.KeyID, got.Body, got.VerifyErr)
		}
		if got.Header.Get("X-Amz-Content-Sha256") != declared {
			t.Errorf("X-Amz-Content-Sha256 %q upstream, the client declared %q", got.Header.Get("X-Amz-Content-Sha256"), declared)
		}
		a, _ := parseAuthorization(got.Header.Get("Authorization"))
		for _, h := range []string{"content-type", "host", "x-amz-meta-owner", "x-amz-content-sha256", "x-amz-date"} {
			if !strings.Contains(";"+strings.Join(a.signedHeaders, ";")+";", ";"+h+";") {
				t.Errorf("header %s, signed by the client, is not signed upstream: %v", h, a.signedHeaders)
			}
		}
	})

	t.Run("s3 put UNSIGNED-PAYLOAD", func(t *testing.T) {
		h := meta.Clone()
		h.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		req := sdkRequest(t, proxy.URL, http.MethodPut, "s3.us-east-1.amazonaws.com", "/bucket/unsigned.txt", "s3", []byte("streamed"), h, clientKeyID, clientKeySecret, now, false)
		resp, answer := do(t, req)
		got := up.last(t)
		if resp.StatusCode != http.StatusOK || got.VerifyErr != nil || got.PayloadHash != "UNSIGNED-PAYLOAD" || string(got.Body) != "streamed" {
			t.Fatalf("status %d %s; upstream payload %q body %q verify %v", resp.StatusCode, answer, got.PayloadHash, got.Body, got.VerifyErr)
		}
	})

	t.Run("query API body hash signed, not declared", func(t *testing.T) {
		form := []byte("Action=GetCallerIdentity&Version=2011-06-15")
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}
		req := sdkRequest(t, proxy.URL, http.MethodPost, "sts.us-east-1.amazonaws.com", "/", "sts", form, h, clientKeyID, clientKeySecret, now, false)
		resp, answer := do(t, req)
		got := up.last(t)
		if resp.StatusCode != http.StatusOK || got.VerifyErr != nil || got.KeyID != testKeyID || string(got.Body) != string(form) {
			t.Fatalf("status %d %s; upstream key %q body %q verify %v", resp.StatusCode, answer, got.KeyID, got.Body, got.VerifyErr)
		}
		if got.Service != "sts" || got.Region != "us-east-1" {
			t.Errorf("signed for %s/%s, want sts/us-east-1", got.Service, got.Region)
		}
	})

	t.Run("s3 presigned get", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http://s3.us-east-1.amazonaws.com/bucket/key.txt?X-Amz-Expires=300&versionId=3", nil)
		signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientKeyID, SecretAccessKey: clientKeySecret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", now)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(signed)
		out, _ := http.NewRequest(http.MethodGet, proxy.URL+u.RequestURI(), nil)
		out.Host = u.Host
		resp, answer := do(t, out)
		got := up.last(t)
		if resp.StatusCode != http.StatusOK || got.VerifyErr != nil || got.KeyID != testKeyID {
			t.Fatalf("status %d %s; upstream key %q verify %v", resp.StatusCode, answer, got.KeyID, got.VerifyErr)
		}
		if got.RawQuery != "versionId=3" {
			t.Errorf("query upstream %q, want the client's own parameter only", got.RawQuery)
		}
	})

	for _, r := range up.got {
		for name, values := range r.Header {
			if v := strings.Join(values, " "); strings.Contains(v, clientKeyID) {
				t.Errorf("the client key id went upstream in %s", name)
			}
		}
	}
	if !strings.Contains(logs.String(), `"client":"`+clientKeyName+`"`) {
		t.Errorf("the request log does not name the client %s:\n%s", clientKeyName, logs)
	}
}

// TestClientKeysRefusals: a wrong client secret, an unknown key, a date
// outside the window, a body that does not match its declared hash and an
// unsigned request are each answered by the proxy in the document the
// client's SDK parses for its protocol (S3 XML, query XML, JSON), with
// X-Sigv4-Sidecar-Error, and the upstream receives nothing.
func TestClientKeysRefusals(t *testing.T) {
	up := newUpstream(t)
	proxy, _ := clientKeysProxy(t, up)
	now := time.Now()
	s3Host, stsHost, ddbHost := "s3.us-east-1.amazonaws.com", "sts.us-east-1.amazonaws.com", "dynamodb.us-east-1.amazonaws.com"
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonAPI := http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"DynamoDB_20120810.ListTables"}}
	stsBody, ddbBody := []byte("Action=GetCallerIdentity&Version=2011-06-15"), []byte("{}")
	cases := []struct {
		name                        string
		req                         func() *http.Request
		status                      int
		proxyCode, awsCode, docType string
	}{
		{"s3 wrong secret", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodGet, s3Host, "/bucket/k", "s3", nil, nil, clientKeyID, clientKeySecret+"x", now, true)
		}, 403, CodeClientSignatureInvalid, "SignatureDoesNotMatch", "application/xml"},
		{"s3 unknown key", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodGet, s3Host, "/bucket/k", "s3", nil, nil, "AKIDNOTINTHEFILE0001", clientKeySecret, now, true)
		}, 403, CodeClientKeyUnknown, "InvalidAccessKeyId", "application/xml"},
		{"s3 expired", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodGet, s3Host, "/bucket/k", "s3", nil, nil, clientKeyID, clientKeySecret, now.Add(-time.Hour), true)
		}, 403, CodeClientSignatureExpired, "RequestTimeTooSkewed", "application/xml"},
		{"s3 body does not match its declared hash", func() *http.Request {
			h := http.Header{"X-Amz-Content-Sha256": {strings.Repeat("ab", 32)}}
			return sdkRequest(t, proxy.URL, http.MethodPut, s3Host, "/bucket/k", "s3", []byte("other bytes"), h, clientKeyID, clientKeySecret, now, false)
		}, 400, CodeClientSignatureInvalid, "XAmzContentSHA256Mismatch", "application/xml"},
		{"query API wrong secret", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodPost, stsHost, "/", "sts", stsBody, form, clientKeyID, "wrong-secret-wrong-secret", now, false)
		}, 403, CodeClientSignatureInvalid, "SignatureDoesNotMatch", "text/xml"},
		{"query API unknown key", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodPost, stsHost, "/", "sts", stsBody, form, "AKIDNOTINTHEFILE0001", clientKeySecret, now, false)
		}, 403, CodeClientKeyUnknown, "InvalidClientTokenId", "text/xml"},
		{"query API expired", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodPost, stsHost, "/", "sts", stsBody, form, clientKeyID, clientKeySecret, now.Add(-time.Hour), false)
		}, 400, CodeClientSignatureExpired, "RequestExpired", "text/xml"},
		{"s3 declared hash that is no hash", func() *http.Request {
			h := http.Header{"X-Amz-Content-Sha256": {"not-a-hash"}}
			return sdkRequest(t, proxy.URL, http.MethodPut, s3Host, "/bucket/k", "s3", []byte("body"), h, clientKeyID, clientKeySecret, now, false)
		}, 400, CodeClientSignatureInvalid, "InvalidArgument", "application/xml"},
		{"s3 empty body declared with another hash", func() *http.Request {
			h := http.Header{"X-Amz-Content-Sha256": {strings.Repeat("ab", 32)}}
			return sdkRequest(t, proxy.URL, http.MethodGet, s3Host, "/bucket/k", "s3", nil, h, clientKeyID, clientKeySecret, now, false)
		}, 400, CodeClientSignatureInvalid, "XAmzContentSHA256Mismatch", "application/xml"},
		{"ec2 unknown key", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodPost, "ec2.us-east-1.amazonaws.com", "/", "ec2", []byte("Action=DescribeRegions&Version=2016-11-15"), form, "AKIDNOTINTHEFILE0001", clientKeySecret, now, false)
		}, 403, CodeClientKeyUnknown, "InvalidClientTokenId", "text/xml"},
		{"json API wrong secret", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodPost, ddbHost, "/", "dynamodb", ddbBody, jsonAPI, clientKeyID, "wrong-secret-wrong-secret", now, false)
		}, 403, CodeClientSignatureInvalid, "SignatureDoesNotMatch", "application/x-amz-json-1.1"},
		{"json API unknown key", func() *http.Request {
			return sdkRequest(t, proxy.URL, http.MethodPost, ddbHost, "/", "dynamodb", ddbBody, jsonAPI, "AKIDNOTINTHEFILE0001", clientKeySecret, now, false)
		}, 403, CodeClientKeyUnknown, "InvalidClientTokenId", "application/x-amz-json-1.1"},
		{"json API body changed after signing", func() *http.Request {
			req := sdkRequest(t, proxy.URL, http.MethodPost, ddbHost, "/", "dynamodb", ddbBody, jsonAPI, clientKeyID, clientKeySecret, now, false)
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(`{"Limit":1}`)), int64(len(`{"Limit":1}`))
			return req
		}, 403, CodeClientSignatureInvalid, "SignatureDoesNotMatch", "application/x-amz-json-1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count()
			resp, body := do(t, tc.req())
			if resp.StatusCode != tc.status || resp.Header.Get(ErrorHeader) != tc.proxyCode {
				t.Fatalf("status %d %s, want %d %s: %s", resp.StatusCode, resp.Header.Get(ErrorHeader), tc.status, tc.proxyCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.docType {
				t.Errorf("Content-Type %q, want %q", ct, tc.docType)
			}
			a := awserror.Read(resp.Header, body)
			if a.Code != tc.awsCode || a.Message == "" {
				t.Errorf("the answer reads as code %q message %q, want %s: %s", a.Code, a.Message, tc.awsCode, body)
			}
			if strings.Contains(string(body), clientKeySecret) {
				t.Errorf("the answer holds the client secret: %s", body)
			}
			if n := up.count(); n != before {
				t.Errorf("the upstream received %d refused requests", n-before)
			}
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/bucket/k", nil)
		req.Host = s3Host
		resp, err := http.DefaultClient.Do(req)
		wantUnauthenticated(t, resp, err)
	})
}

// TestClientKeysAwsChunked: an S3 aws-chunked upload signed with a client
// key has every chunk signature verified on the way and is re-signed chunk
// by chunk with the proxy's keys; the unsigned-trailer form is passed
// through. A chunk changed after the client signed it is refused as
// SignatureDoesNotMatch and the upstream never receives a complete body.
func TestClientKeysAwsChunked(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(clientKeys.AccessKeyID+" "+clientKeys.SecretAccessKey+" chunk-app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	cfg.Listener.ClientKeysFile = keys
	srv, _ := startProxy(t, cfg, newStaticSource())
	payload := testPayload(300 << 10)
	for _, so := range []signer.StreamingOptions{
		{ChunkSize: signer.MinChunkSize},
		{ChunkSize: 100 << 10, Trailer: "x-amz-checksum-crc32c"},
		{ChunkSize: 64 << 10, Trailer: "x-amz-checksum-crc32", Unsigned: true},
	} {
		c := clientKeyUpload(t, srv.URL, payload, so)
		name := c.header.Get("X-Amz-Content-Sha256")
		resp, body := sendTo(t, c.request(t, srv.URL, c.body, true))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, resp.StatusCode, body)
		}
		got := up.uploads()[len(up.uploads())-1]
		if got.err != nil || !bytes.Equal(got.decoded, payload) {
			t.Fatalf("%s: upstream: %v, decoded %d of %d bytes", name, got.err, len(got.decoded), len(payload))
		}
		if !so.Unsigned && bytes.Contains(got.raw, []byte(chunkSignatureOf(c.body))) {
			t.Errorf("%s: a chunk signature made with the client's key was forwarded", name)
		}
	}

	c := clientKeyUpload(t, srv.URL, payload, signer.StreamingOptions{ChunkSize: signer.MinChunkSize})
	tampered := bytes.Clone(c.body)
	i := bytes.LastIndex(tampered, []byte("chunk-signature=")) - 100 // inside the last data chunk
	tampered[i] ^= 1
	before := len(up.uploads())
	resp, body := sendTo(t, c.request(t, srv.URL, tampered, true))
	if resp.StatusCode == http.StatusOK || resp.Header.Get(ErrorHeader) != CodeClientSignatureInvalid {
		t.Fatalf("tampered chunk: status %d %s: %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	if a := awserror.Read(resp.Header, []byte(body)); a.Code != "SignatureDoesNotMatch" {
		t.Errorf("tampered chunk answered as %q: %s", a.Code, body)
	}
	for _, u := range up.uploads()[before:] {
		if u.err == nil {
			t.Errorf("the upstream received a complete body from a tampered upload")
		}
	}
}

// clientKeyUpload is newClientUpload signed for the proxy's own address,
// as an SDK pointed at the proxy signs it.
func clientKeyUpload(t *testing.T, proxyURL string, payload []byte, so signer.StreamingOptions) clientUpload {
	t.Helper()
	so.DecodedLength = int64(len(payload))
	req, _ := http.NewRequest(http.MethodPut, proxyURL+"/bucket/key", bytes.NewReader(payload))
	if _, err := signer.New(nil).SignStreaming(req, clientKeys, signer.Options{Service: "s3", Region: "us-east-1", Time: time.Now()}, so); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return clientUpload{body: body, header: req.Header}
}

// TestClientKeysFileReloaded: --client-keys-file is re-read when it
// changes: a key added works and a key removed is refused; a bad new file
// is refused and the last good keys stay in force, its secrets never
// logged.
func TestClientKeysFileReloaded(t *testing.T) {
	up := newUpstream(t)
	const newKeyID, newSecret = "AKIDCLIENTKEYAPP0002", "secondSECRETnotAWSkeyBBBBBBBBBBBBBBBBBBB"
	dir := newSecretDir(t, map[string][]byte{"keys": []byte(clientKeyID + " " + clientKeySecret + " " + clientKeyName + "\n")})
	cfg := testConfig()
	cfg.ConnectTo = []string{"*.amazonaws.com:=" + up.URL}
	cfg.Listener.ClientKeysFile = dir.path("keys")
	addr, logs := runListener(t, cfg)
	send := func(keyID, secret string) *http.Response {
		req := sdkRequest(t, "http://"+addr, http.MethodGet, "s3.us-east-1.amazonaws.com", "/bucket/k", "s3", nil, nil, keyID, secret, time.Now(), true)
		resp, _ := do(t, req)
		return resp
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if resp := send(clientKeyID, clientKeySecret); resp.StatusCode != http.StatusOK {
		t.Fatalf("first key: %d", resp.StatusCode)
	}
	dir.update(map[string][]byte{"keys": []byte(newKeyID + " " + newSecret + " " + clientKeyName + "\n")})
	waitFor("the new key is taken", func() bool { return send(newKeyID, newSecret).StatusCode == http.StatusOK })
	if resp := send(clientKeyID, clientKeySecret); resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != CodeClientKeyUnknown {
		t.Errorf("a removed key: %d %s", resp.StatusCode, resp.Header.Get(ErrorHeader))
	}
	dir.update(map[string][]byte{"keys": []byte(clientKeyID + " " + clientKeySecret + "\n")}) // no NAME
	waitFor("the bad file is refused", func() bool { return strings.Contains(logs.String(), "client keys (--client-keys-file) refused") })
	if resp := send(newKeyID, newSecret); resp.StatusCode != http.StatusOK {
		t.Errorf("after a bad file, the last good key: %d", resp.StatusCode)
	}
	for _, secret := range []string{clientKeySecret, newSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a client secret reached the log:\n%s", logs)
		}
	}
}

// TestClientKeysTargetFromScope: an SDK pointed at the proxy
// (AWS_ENDPOINT_URL=http://127.0.0.1:PORT) sends the proxy's own Host; the
// request goes to the AWS endpoint of its verified scope, S3 in path style
// whether the SDK used path style or a virtual host under the proxy's name
// (bucket.localhost:PORT). A scope that names no single endpoint is
// refused and nothing is forwarded.
func TestClientKeysTargetFromScope(t *testing.T) {
	up := newUpstream(t)
	proxy, _ := clientKeysProxy(t, up)
	_, port, _ := strings.Cut(strings.TrimPrefix(proxy.URL, "http://"), ":")
	now := time.Now()
	for _, tc := range []struct {
		name, host, path, service string
		body                      []byte
		wantHost, wantPath        string
	}{
		{"s3 path style", "127.0.0.1:" + port, "/photos/2024/a.jpg", "s3", nil, "s3.us-east-1.amazonaws.com", "/photos/2024/a.jpg"},
		{"s3 virtual host under localhost", "photos.localhost:" + port, "/2024/a.jpg", "s3", nil, "s3.us-east-1.amazonaws.com", "/photos/2024/a.jpg"},
		{"s3 bucket listing on a virtual host", "photos.localhost:" + port, "/", "s3", nil, "s3.us-east-1.amazonaws.com", "/photos"},
		{"sts", "localhost:" + port, "/", "sts", []byte("Action=GetCallerIdentity&Version=2011-06-15"), "sts.us-east-1.amazonaws.com", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if tc.body != nil {
				method = http.MethodPost
			}
			req := sdkRequest(t, proxy.URL, method, tc.host, tc.path, tc.service, tc.body, nil, clientKeyID, clientKeySecret, now, tc.service == "s3")
			resp, answer := do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, answer)
			}
			got := up.last(t)
			if got.VerifyErr != nil || got.Host != tc.wantHost || got.Path != tc.wantPath || got.Service != tc.service {
				t.Fatalf("upstream: host %q path %q service %q verify %v; want %s %s", got.Host, got.Path, got.Service, got.VerifyErr, tc.wantHost, tc.wantPath)
			}
		})
	}
	before := up.count()
	req := sdkRequest(t, proxy.URL, http.MethodPost, "127.0.0.1:"+port, "/model/m/invoke", "bedrock", []byte("{}"), http.Header{"Content-Type": {"application/json"}}, clientKeyID, clientKeySecret, now, false)
	resp, answer := do(t, req)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeUnknownEndpoint || !strings.Contains(string(answer), "bedrock-runtime.us-east-1.amazonaws.com") {
		t.Errorf("bedrock through the proxy's own host: %d %s %s", resp.StatusCode, resp.Header.Get(ErrorHeader), answer)
	}
	if up.count() != before {
		t.Error("the upstream received a request whose target is ambiguous")
	}
}

// TestClientKeysScopeKept: a request re-signed from a client key is signed
// for the scope the client signed for, not the one the proxy would derive
// from the host: an S3 request signed for eu-west-1 to the us-east-1 host
// reaches the upstream scoped to eu-west-1, as it would have reached S3
// (which answers with the bucket's region).
func TestClientKeysScopeKept(t *testing.T) {
	up := newUpstream(t)
	proxy, _ := clientKeysProxy(t, up)
	req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/bucket/key", nil)
	req.Host = "s3.us-east-1.amazonaws.com"
	req.Header.Set("X-Amz-Content-Sha256", signer.EmptyPayloadHash)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientKeyID, SecretAccessKey: clientKeySecret}, req, signer.EmptyPayloadHash, "s3", "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, answer := do(t, req)
	got := up.last(t)
	if resp.StatusCode != http.StatusOK || got.VerifyErr != nil || got.Service != "s3" || got.Region != "eu-west-1" {
		t.Fatalf("status %d %s; upstream signed for %s/%s, verify %v; want s3/eu-west-1", resp.StatusCode, answer, got.Service, got.Region, got.VerifyErr)
	}
}

// TestRouteClientsAdmitClientKeys: with routes, a request signed with a
// client key is admitted by the routes whose match.clients name the key's
// client, verified there before anything is sent, and re-signed with that
// route's credentials; another client's route is 403 client_not_allowed; a
// wrong secret on its own route is SignatureDoesNotMatch and an unknown key
// InvalidClientTokenId; the upstream receives none of them.
func TestRouteClientsAdmitClientKeys(t *testing.T) {
	up := newUpstream(t)
	const otherKeyID, otherSecret = "AKIDCLIENTKEYAPPB001", "otherSECRETnotAWSkeyCCCCCCCCCCCCCCCCCCCC"
	dir := t.TempDir()
	keys := filepath.Join(dir, "client-keys")
	if err := os.WriteFile(keys, []byte(clientKeyID+" "+clientKeySecret+" app-a\n"+otherKeyID+" "+otherSecret+" app-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.ClientKeysFile = keys
	srv, _, logs := startRouter(t, cfg, `
routes:
  - name: team-a
    match: {path: /team-a, clients: [app-a]}
    upstream: `+up.URL+`
  - name: team-b
    match: {path: /team-b, clients: [app-b]}
    upstream: `+up.URL+`
`, nil)
	now := time.Now()
	send := func(path, keyID, secret string) (*http.Response, []byte) {
		t.Helper()
		req := sdkRequest(t, srv.URL, http.MethodPost, strings.TrimPrefix(srv.URL, "http://"), path, "sts", []byte("Action=GetCallerIdentity&Version=2011-06-15"),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, keyID, secret, now, false)
		return do(t, req)
	}
	if resp, body := send("/team-a/x", clientKeyID, clientKeySecret); resp.StatusCode != http.StatusOK {
		t.Fatalf("app-a on its route: %d %s", resp.StatusCode, body)
	}
	if got := up.last(t); got.VerifyErr != nil || got.KeyID != testKeyID || got.Path != "/team-a/x" {
		t.Fatalf("upstream: key %q path %q verify %v", got.KeyID, got.Path, got.VerifyErr)
	}
	before := up.count()
	for _, tc := range []struct {
		name, path, keyID, secret, code, awsCode string
	}{
		{"another client's route", "/team-b/x", clientKeyID, clientKeySecret, CodeClientNotAllowed, "AccessDenied"},
		{"no route", "/team-c/x", clientKeyID, clientKeySecret, CodeNoRoute, "AccessDenied"},
		{"wrong secret on its route", "/team-a/x", clientKeyID, otherSecret, CodeClientSignatureInvalid, "SignatureDoesNotMatch"},
		{"unknown key", "/team-a/x", "AKIDNOTINTHEFILE0001", clientKeySecret, CodeClientKeyUnknown, "InvalidClientTokenId"},
	} {
		resp, body := send(tc.path, tc.keyID, tc.secret)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != tc.code {
			t.Errorf("%s: %d %s %s", tc.name, resp.StatusCode, resp.Header.Get(ErrorHeader), body)
		}
		if tc.awsCode != "" {
			if a := awserror.Read(resp.Header, body); a.Code != tc.awsCode {
				t.Errorf("%s: the answer reads as %q, want %s: %s", tc.name, a.Code, tc.awsCode, body)
			}
		}
	}
	if n := up.count() - before; n != 0 {
		t.Errorf("the upstream received %d refused requests", n)
	}
	if strings.Contains(logs.String(), clientKeySecret) || strings.Contains(logs.String(), otherSecret) {
		t.Errorf("a client secret reached the log")
	}
}

// TestRouteHostsRestrictClientKeyScopes: a route's match.hosts restrict the
// services and regions a client-key client reaches when its SDK is pointed
// at the proxy: the route is picked by the AWS endpoint of the signature's
// scope, so STS in us-east-1 is admitted and S3 is AccessDenied, in the
// document the SDK reads, with nothing forwarded.
func TestRouteHostsRestrictClientKeyScopes(t *testing.T) {
	up := newUpstream(t)
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(clientKeyID+" "+clientKeySecret+" app-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Listener.ClientKeysFile = keys
	srv, _, _ := startRouter(t, cfg, `
routes:
  - name: sts-only
    match: {hosts: [sts.us-east-1.amazonaws.com], clients: [app-a]}
    allow-hosts: [sts.us-east-1.amazonaws.com]
    connect-to: ["sts.us-east-1.amazonaws.com:=`+up.URL+`"]
`, nil)
	self := strings.TrimPrefix(srv.URL, "http://")
	now := time.Now()
	req := sdkRequest(t, srv.URL, http.MethodPost, self, "/", "sts", []byte("Action=GetCallerIdentity&Version=2011-06-15"),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, clientKeyID, clientKeySecret, now, false)
	if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("sts: %d %s", resp.StatusCode, body)
	}
	if got := up.last(t); got.VerifyErr != nil || got.Host != "sts.us-east-1.amazonaws.com" || got.KeyID != testKeyID {
		t.Fatalf("upstream: host %q key %q verify %v", got.Host, got.KeyID, got.VerifyErr)
	}
	before := up.count()
	req = sdkRequest(t, srv.URL, http.MethodGet, self, "/bucket/k", "s3", nil, nil, clientKeyID, clientKeySecret, now, true)
	resp, body := do(t, req)
	if a := awserror.Read(resp.Header, body); resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != CodeNoRoute || a.Code != "AccessDenied" {
		t.Errorf("s3 outside the route: %d %s %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	if n := up.count() - before; n != 0 {
		t.Errorf("the upstream received %d refused requests", n)
	}
}

// TestClientKeyOutsideAllowHostsGetsSDKError: a request verified as signed
// with a client key whose target --allow-hosts does not take (a service or
// region the proxy is not for) got the proxy's own JSON error, which no
// SDK reads: the query-protocol SDKs reported UnknownError, the CLI only
// the status. It gets AccessDenied in its protocol's document (query XML,
// JSON with X-Amzn-ErrorType), with X-Sigv4-Sidecar-Error host_not_allowed,
// and nothing is forwarded.
func TestClientKeyOutsideAllowHostsGetsSDKError(t *testing.T) {
	up := newUpstream(t)
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(clientKeyID+" "+clientKeySecret+" "+clientKeyName+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ConnectTo = []string{"*.amazonaws.com:=" + up.URL}
	cfg.AllowHosts = []string{"dynamodb.us-east-1.amazonaws.com"}
	cfg.Listener.ClientKeysFile = keys
	srv, _ := startProxy(t, cfg, newStaticSource())
	self := strings.TrimPrefix(srv.URL, "http://")
	now := time.Now()
	jsonHeader := http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Target": {"DynamoDB_20120810.ListTables"}}
	if resp, body := do(t, sdkRequest(t, srv.URL, http.MethodPost, self, "/", "dynamodb", []byte("{}"), jsonHeader, clientKeyID, clientKeySecret, now, false)); resp.StatusCode != http.StatusOK {
		t.Fatalf("dynamodb, allowed: %d %s", resp.StatusCode, body)
	}
	before := up.count()
	for _, tc := range []struct {
		name, service string
		body          string
		header        http.Header
		wantType      string
	}{
		{"query", "sqs", "Action=ListQueues&Version=2012-11-05", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "text/xml"},
		{"json", "kinesis", "{}", http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"Kinesis_20131202.ListStreams"}}, "application/x-amz-json-1.1"},
	} {
		resp, body := do(t, sdkRequest(t, srv.URL, http.MethodPost, self, "/", tc.service, []byte(tc.body), tc.header, clientKeyID, clientKeySecret, now, false))
		a := awserror.Read(resp.Header, body)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != CodeHostNotAllowed || a.Code != "AccessDenied" || resp.Header.Get("Content-Type") != tc.wantType {
			t.Errorf("%s (%s) outside --allow-hosts: %d %s %s %s, want 403 AccessDenied in %s", tc.name, tc.service, resp.StatusCode, resp.Header.Get(ErrorHeader), resp.Header.Get("Content-Type"), body, tc.wantType)
		}
		if tc.name == "json" && resp.Header.Get("X-Amzn-ErrorType") != "AccessDenied" {
			t.Errorf("json: X-Amzn-ErrorType %q, want AccessDenied", resp.Header.Get("X-Amzn-ErrorType"))
		}
	}
	if n := up.count() - before; n != 0 {
		t.Errorf("the upstream received %d refused requests", n)
	}
}
