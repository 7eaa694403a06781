//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// fidelityKeys hold bytes an app may send unescaped in a request target
// (';', '|', '{', '^', '"', UTF-8) that net/http's client would re-escape
// from the decoded path. The first three share the prefix "a;b" or not.
var fidelityKeys = []string{
	"a;b/1.txt",
	"a;b/2.txt",
	"a;c.txt",
	"ab.txt",
	"pipe|brace{x}^caret\"quote-caf\xc3\xa9-\xe4\xb8\x96.txt",
}

// rawKeyPath is the request path for bucket and key as an app that does
// not escape may write it: only the bytes a request line cannot carry
// (blanks, controls, '%', '?', '#') percent-encoded.
func rawKeyPath(bucket, key string) string {
	var b strings.Builder
	b.WriteString("/" + bucket)
	if key != "" {
		b.WriteString("/")
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c == 0x7f || c == '%' || c == '?' || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rawTargetRequest is a request whose target goes on the wire as
// rawPath?rawQuery byte for byte (URL.Opaque), to base ("http://host:port").
func rawTargetRequest(t testing.TB, method, base, rawPath, rawQuery string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, base+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque, req.URL.RawQuery = rawPath, rawQuery
	return req
}

// throughProxy is rawTargetRequest to a's sidecar, addressed as a's mode does.
func (a *app) throughProxy(t testing.TB, method, rawPath, rawQuery string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req := rawTargetRequest(t, method, a.proxy.url(), rawPath, rawQuery, body)
	if a.mode == hostPathMode {
		req.Host = s3Domain
	}
	return a.do(t, req)
}

// straightTo sends the same raw target to s, signed by the project's signer
// (which, like the proxy, signs the bytes that go on the wire): the control
// that tells the server's own answer from the proxy's doing.
func straightTo(t testing.TB, s *server, method, rawPath, rawQuery string) (*http.Response, []byte) {
	t.Helper()
	req := rawTargetRequest(t, method, s.endpoint, rawPath, rawQuery, nil)
	_, err := signer.New(nil).Sign(req, signer.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey},
		signer.Options{Service: "s3", Region: region, Time: time.Now(), PayloadHash: signer.EmptyPayloadHash, SetContentSHA256: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestFidelityQueryAndPathBytes: through the proxy, against MinIO and
// versitygw, a query with a raw ';' is the query the server receives (a
// listing with prefix=a;b returns only the matching keys, where the proxy
// used to drop the prefix and list everything), a malformed '%' escape is
// refused by the proxy naming the parameter, keys with raw '|', '{', '^',
// '"' and UTF-8 in the path round trip, and presigned-URL parameters (SigV2,
// and SigV4 names spelled with percent-encoded letters) are stripped so
// the server sees one signature, the proxy's.
func TestFidelityQueryAndPathBytes(t *testing.T) {
	for _, s := range servers {
		for _, mode := range []string{fixedMode, hostPathMode} {
			t.Run(s.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				bucket := newBucketName("e2e-fidelity")
				sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), sidecarArgs(s, mode, bucket)...)
				a := newApp(sc, mode)
				a.server = s.name
				exerciseFidelity(t, a, s, bucket)
			})
		}
	}
}

func exerciseFidelity(t *testing.T, a *app, s *server, bucket string) {
	a.expect(t, a.request(t, http.MethodPut, bucket, "", "", nil), http.StatusOK)
	content := func(key string) []byte { return []byte("content of " + key + "\n") }

	t.Run("raw-path-keys", func(t *testing.T) {
		for _, key := range fidelityKeys {
			path := rawKeyPath(bucket, key)
			if resp, body := a.throughProxy(t, http.MethodPut, path, "", content(key)); resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT %q: %d %s", path, resp.StatusCode, body)
			}
			resp, body := a.throughProxy(t, http.MethodGet, path, "", nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content(key)) {
				t.Errorf("GET %q: %d %q, want 200 %q", path, resp.StatusCode, body, content(key))
			}
		}
		// The server's own listing proves each key arrived byte for byte.
		_, body := a.expect(t, a.request(t, http.MethodGet, bucket, "", "list-type=2", nil), http.StatusOK)
		got := parseList(t, body).keys()
		want := slices.Clone(fidelityKeys)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("listing after the raw-path PUTs:\n got %q\nwant %q", got, want)
		}
	})

	matching := []string{"a;b/1.txt", "a;b/2.txt"}
	t.Run("prefix-with-encoded-semicolon", func(t *testing.T) {
		_, body := a.expect(t, a.request(t, http.MethodGet, bucket, "", "list-type=2&prefix=a%3Bb", nil), http.StatusOK)
		if got := parseList(t, body).keys(); !slices.Equal(got, matching) {
			t.Errorf("prefix=a%%3Bb lists %q, want %q", got, matching)
		}
	})

	t.Run("prefix-with-raw-semicolon", func(t *testing.T) {
		query := "list-type=2&prefix=a;b"
		resp, body := a.throughProxy(t, http.MethodGet, "/"+bucket, query, nil)
		direct, directBody := straightTo(t, s, http.MethodGet, "/"+bucket, query)
		if resp.StatusCode == http.StatusOK {
			if got := parseList(t, body).keys(); !slices.Equal(got, matching) {
				t.Fatalf("prefix=a;b through the proxy lists %q, want only %q", got, matching)
			}
		}
		// Whatever the server makes of a raw ';', the proxy's answer is the
		// server's: the same status and S3 error code as signed straight.
		if resp.StatusCode != direct.StatusCode || resp.Header.Get("X-Sigv4-Sidecar-Error") != "" {
			t.Fatalf("prefix=a;b: through the proxy %d %s, straight to %s %d %s", resp.StatusCode, body, s.name, direct.StatusCode, directBody)
		}
		if resp.StatusCode != http.StatusOK {
			pe, _ := parseS3Error(body)
			de, _ := parseS3Error(directBody)
			if pe.Code != de.Code {
				t.Fatalf("prefix=a;b: through the proxy %q, straight %q", pe.Code, de.Code)
			}
			t.Logf("%s refuses a query with a raw ';' as it does signed straight: %d %s", s.name, resp.StatusCode, pe.Code)
		}
		if s.name == "versitygw" && resp.StatusCode != http.StatusOK {
			t.Fatalf("versitygw, which reads ';' as data: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("malformed-escape-refused", func(t *testing.T) {
		resp, body := a.throughProxy(t, http.MethodGet, "/"+bucket, "list-type=2&prefix=zzz%zz", nil)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Sigv4-Sidecar-Error") != "bad_request" || !bytes.Contains(body, []byte(`\"prefix\"`)) {
			t.Errorf("prefix=zzz%%zz: %d %q %s, want the proxy's 400 bad_request naming \"prefix\"", resp.StatusCode, resp.Header.Get("X-Sigv4-Sidecar-Error"), body)
		}
	})

	key := fidelityKeys[4]
	path := rawKeyPath(bucket, key)
	t.Run("sigv2-presign-stripped", func(t *testing.T) {
		// As the AWS CLI v1 presigns: the proxy's signature replaces it.
		query := "AWSAccessKeyId=" + url.QueryEscape(s.accessKey) + "&Expires=" + fmt.Sprint(time.Now().Add(time.Hour).Unix()) + "&Signature=bm90IGEgc2lnbmF0dXJl%3D"
		resp, body := a.throughProxy(t, http.MethodGet, path, query, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content(key)) {
			t.Errorf("GET with SigV2 presign parameters: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("percent-encoded-presign-names-stripped", func(t *testing.T) {
		query := "%58-Amz-Algorithm=AWS4-HMAC-SHA256&X-%41mz-Credential=" + url.QueryEscape(s.accessKey+"/20200101/"+region+"/s3/aws4_request") +
			"&X-Amz-D%61te=20200101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&%58-Amz-Signature=" + strings.Repeat("0", 64)
		resp, body := a.throughProxy(t, http.MethodGet, path, query, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content(key)) {
			t.Errorf("GET with presign parameters spelled with escapes: %d %s", resp.StatusCode, body)
		}
	})
}
