package sidecar

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// v4aUpstream verifies every request as a SigV4a service does, with the
// package signer's verifier: the signature against the secret of its access
// key id, the scope's service, and its region (one the service runs in)
// within the signed X-Amz-Region-Set. It answers 403 with the reason, or
// 200; reject, when set, answers first.
type v4aUpstream struct {
	*httptest.Server
	service, region string
	reject          func(w http.ResponseWriter, accessKeyID string) bool

	mu   sync.Mutex
	seen []v4aSeen
}

// v4aSeen is what the upstream saw of one request.
type v4aSeen struct {
	host, authorization, regionSet, token string
	body                                  string
	result                                signer.Result
	err                                   error
}

func newV4aUpstream(t *testing.T, service, region string) *v4aUpstream {
	u := &v4aUpstream{service: service, region: region}
	u.Server = httptest.NewServer(http.HandlerFunc(u.handle))
	t.Cleanup(u.Close)
	return u
}

func (u *v4aUpstream) handle(w http.ResponseWriter, r *http.Request) {
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: id, SecretAccessKey: testSecret}, id == testKeyID || id == testKeyID2
	}
	a, _ := signer.ParseAuthorization(r.Header.Get("Authorization"))
	if u.reject != nil && u.reject(w, a.AccessKeyID) {
		return
	}
	res, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: u.service, Region: u.region, HashBody: true})
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, v4aSeen{host: r.Host, authorization: r.Header.Get("Authorization"), regionSet: r.Header.Get("X-Amz-Region-Set"),
		token: r.Header.Get("X-Amz-Security-Token"), body: string(body), result: res, err: err})
	u.mu.Unlock()
	if err != nil {
		http.Error(w, "SignatureDoesNotMatch: "+err.Error(), http.StatusForbidden)
		return
	}
	io.WriteString(w, "verified")
}

func (u *v4aUpstream) last(t *testing.T) v4aSeen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.seen[len(u.seen)-1]
}

// hostModeVia is a host-mode Config that dials u for every AWS host.
func hostModeVia(u *v4aUpstream) Config {
	cfg := testConfig()
	addr := strings.TrimPrefix(u.URL, "http://")
	cfg.ConnectTo = []string{"*.amazonaws.com:=http://" + addr, "*.api.aws:=http://" + addr}
	return cfg
}

// send makes one request through the proxy at proxyURL with Host host and
// returns the status and body.
func send(t *testing.T, proxyURL, method, host, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, proxyURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// TestSigV4aHostsRoundTrip: in host mode, a request to each host that
// demands SigV4a is signed AWS4-ECDSA-P256-SHA256 for region set "*", with
// the session token, and the upstream verifies it as the service does, for
// a region the signature never named. Bodies are hashed and signed.
func TestSigV4aHostsRoundTrip(t *testing.T) {
	for _, c := range []struct {
		host, service, method, path, body string
	}{
		{"mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com", "s3", http.MethodGet, "/photos/a%20b.jpg", ""},
		{"mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com", "s3", http.MethodPut, "/photos/key", "object bytes"},
		{"abcde.veo.endpoint.events.amazonaws.com", "events", http.MethodPost, "/", `{"Entries":[{"Source":"app","DetailType":"t","Detail":"{}"}]}`},
		{"123456789012.cloudfront-kvs.global.api.aws", "cloudfront-keyvaluestore", http.MethodGet, "/key-value-stores/arn%3Aaws%3Acloudfront%3A%3A123456789012%3Akey-value-store%2Fid/keys/k", ""},
	} {
		t.Run(c.service+"-"+c.method, func(t *testing.T) {
			up := newV4aUpstream(t, c.service, "ap-southeast-2")
			proxy, _ := startProxy(t, hostModeVia(up), newStaticSource())
			status, got := send(t, proxy.URL, c.method, c.host, c.path, c.body)
			seen := up.last(t)
			if status != http.StatusOK || seen.err != nil {
				t.Fatalf("status %d (%s); upstream: %v", status, got, seen.err)
			}
			date := seen.result.Time.Format("20060102")
			if !strings.HasPrefix(seen.authorization, signer.AlgorithmV4a+" Credential="+testKeyID+"/"+date+"/"+c.service+"/aws4_request, ") {
				t.Errorf("Authorization %q, want SigV4a with a regionless scope", seen.authorization)
			}
			if seen.regionSet != "*" || seen.result.RegionSet != "*" || !strings.Contains(seen.result.SignedHeaders, "x-amz-region-set") {
				t.Errorf("X-Amz-Region-Set %q (verified %q), signed headers %q", seen.regionSet, seen.result.RegionSet, seen.result.SignedHeaders)
			}
			if seen.host != c.host || seen.token != testToken || seen.body != c.body {
				t.Errorf("upstream got Host %q, token %q, body %q", seen.host, seen.token, seen.body)
			}
		})
	}
}

// TestSigV4aUpstreamRefusesWrongRegion: the verifier the round trips rely
// on refuses a region outside the signed set, so they prove the set.
func TestSigV4aUpstreamRefusesWrongRegion(t *testing.T) {
	up := newV4aUpstream(t, "sqs", "eu-west-1")
	cfg := hostModeVia(up)
	cfg.RegionSet = []string{"us-east-1", "us-west-*"}
	proxy, _ := startProxy(t, cfg, newStaticSource())
	status, got := send(t, proxy.URL, http.MethodGet, "sqs.us-east-1.amazonaws.com", "/?Action=ListQueues", "")
	var ve *signer.VerifyError
	seen := up.last(t)
	if status != http.StatusForbidden || !errors.As(seen.err, &ve) || ve.Reason != signer.ReasonScopeMismatch || seen.regionSet != "us-east-1,us-west-*" {
		t.Fatalf("status %d (%s), X-Amz-Region-Set %q, verify error %v; want the region refused", status, got, seen.regionSet, seen.err)
	}
}

// TestRegionSetOption: --region-set signs every request with SigV4a for its
// regions, in host mode (a SigV4 host) and in fixed mode, and overrides
// the "*" of a host that demands SigV4a.
func TestRegionSetOption(t *testing.T) {
	t.Run("host mode", func(t *testing.T) {
		up := newV4aUpstream(t, "sqs", "us-west-2")
		cfg := hostModeVia(up)
		cfg.RegionSet = []string{" us-east-1", "", "us-west-* "}
		proxy, _ := startProxy(t, cfg, newStaticSource())
		status, got := send(t, proxy.URL, http.MethodPost, "sqs.us-east-1.amazonaws.com", "/", "Action=ListQueues")
		seen := up.last(t)
		if status != http.StatusOK || seen.err != nil || seen.result.RegionSet != "us-east-1,us-west-*" {
			t.Fatalf("status %d (%s), region set %q, upstream: %v", status, got, seen.result.RegionSet, seen.err)
		}
	})
	t.Run("overrides a SigV4a host", func(t *testing.T) {
		up := newV4aUpstream(t, "s3", "eu-central-1")
		cfg := hostModeVia(up)
		cfg.RegionSet = []string{"eu-*"}
		proxy, _ := startProxy(t, cfg, newStaticSource())
		status, got := send(t, proxy.URL, http.MethodGet, "x1.mrap.accesspoint.s3-global.amazonaws.com", "/k", "")
		if seen := up.last(t); status != http.StatusOK || seen.regionSet != "eu-*" {
			t.Fatalf("status %d (%s), X-Amz-Region-Set %q", status, got, seen.regionSet)
		}
	})
	t.Run("fixed mode", func(t *testing.T) {
		up := newV4aUpstream(t, "execute-api", "eu-west-1")
		cfg := testConfig()
		cfg.Upstream, cfg.Service, cfg.RegionSet = up.URL+"/prod", "execute-api", []string{"*"}
		proxy, _ := startProxy(t, cfg, newStaticSource())
		status, got := send(t, proxy.URL, http.MethodGet, "", "/items?id=1", "")
		if seen := up.last(t); status != http.StatusOK || seen.result.RegionSet != "*" {
			t.Fatalf("status %d (%s), region set %q, upstream: %v", status, got, seen.result.RegionSet, seen.err)
		}
	})
	t.Run("refused at start", func(t *testing.T) {
		for _, c := range []struct {
			set  []string
			want string
		}{
			{[]string{"us-east-1", "us east"}, `invalid --region-set "us east": not a region or a pattern of one`},
			{[]string{"us-east-1,eu-west-1"}, `invalid --region-set "us-east-1,eu-west-1"`},
			{[]string{"eu/west"}, `invalid --region-set "eu/west"`},
		} {
			cfg := testConfig()
			cfg.RegionSet = c.set
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("--region-set %q: %v, want %s", c.set, err, c.want)
			}
		}
		// --region '*' names the option that takes it.
		cfg := testConfig()
		cfg.Region = "*"
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `invalid --region "*": a pattern of regions is a SigV4a region set: use --region-set *`) {
			t.Errorf("--region '*': %v", err)
		}
		// Fixed mode on an unknown host needs --service only.
		cfg = testConfig()
		cfg.Upstream, cfg.RegionSet = "https://api.example.com", []string{"*"}
		if err := cfg.Validate(); err == nil || !strings.HasSuffix(err.Error(), "set --service") {
			t.Errorf("fixed mode on an unknown host with --region-set: %v, want it to ask for --service", err)
		}
	})
}

// TestSigV4aChunkedPayloadIsHashed: --payload chunked (and auto's aws-chunked
// for large S3 uploads over http) cannot sign SigV4a chunks; the body is
// hashed instead and the upload verifies.
func TestSigV4aChunkedPayloadIsHashed(t *testing.T) {
	up := newV4aUpstream(t, "s3", "us-east-1")
	cfg := hostModeVia(up)
	cfg.Payload = PayloadChunked
	proxy, _ := startProxy(t, cfg, newStaticSource())
	body := strings.Repeat("0123456789", 10_000)
	status, got := send(t, proxy.URL, http.MethodPut, "m1.mrap.accesspoint.s3-global.amazonaws.com", "/big", body)
	seen := up.last(t)
	if status != http.StatusOK || seen.err != nil || seen.body != body {
		t.Fatalf("status %d (%s), upstream got %d bytes: %v", status, got, len(seen.body), seen.err)
	}
	if h := signer.HashPayload([]byte(body)); !strings.Contains(seen.result.CanonicalRequest, "\n"+h) {
		t.Errorf("canonical request does not end with the body's hash %s", h)
	}
}

// TestSigV4aRefusesClientSignedChunks: a client's own HMAC-signed
// aws-chunked upload cannot be re-signed with SigV4a: 400 naming the
// forms that work, nothing sent.
func TestSigV4aRefusesClientSignedChunks(t *testing.T) {
	up := newV4aUpstream(t, "s3", "us-east-1")
	proxy, _ := startProxy(t, hostModeVia(up), newStaticSource())
	req, _ := http.NewRequest(http.MethodPut, proxy.URL+"/k", strings.NewReader("5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n"))
	req.Host = "m1.mrap.accesspoint.s3-global.amazonaws.com"
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", signer.StreamingPayload)
	req.Header.Set("X-Amz-Decoded-Content-Length", "5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBadRequest ||
		!strings.Contains(string(got), "SigV4a") || !strings.Contains(string(got), signer.StreamingUnsignedPayloadTrailer) {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get(ErrorHeader), got)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.seen) != 0 {
		t.Fatalf("upstream received %d requests", len(up.seen))
	}
}

// TestSigV4aCredentialRotation: a SigV4a request whose keys the upstream
// rejects is re-signed with SigV4a with fresh keys, as SigV4 requests are;
// each key is derived once and then served from the key cache.
func TestSigV4aCredentialRotation(t *testing.T) {
	up := newV4aUpstream(t, "s3", "us-east-1")
	up.reject = func(w http.ResponseWriter, id string) bool {
		if id != testKeyID {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
		return true
	}
	src := newStaticSource()
	src.rotate = true
	p, err := New(hostModeVia(up), src, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })

	for i := range 3 {
		status, got := send(t, srv.URL, http.MethodGet, "m1.mrap.accesspoint.s3-global.amazonaws.com", "/k", "")
		seen := up.last(t)
		if status != http.StatusOK || seen.err != nil || !strings.HasPrefix(seen.authorization, signer.AlgorithmV4a+" Credential="+testKeyID2+"/") {
			t.Fatalf("request %d: status %d (%s), Authorization %q, upstream: %v", i, status, got, seen.authorization, seen.err)
		}
	}
	src.mu.Lock()
	invalidated := append([]string(nil), src.invalidated...)
	src.mu.Unlock()
	if len(invalidated) != 1 || invalidated[0] != testKeyID {
		t.Errorf("invalidated %v, want the rejected key once", invalidated)
	}
	// Two keys signed with (the rejected one, then its successor three
	// times): two derivations, the rest cache hits.
	if st := p.keys.SigV4aStats(); st.Misses != 2 || st.Hits != 2 {
		t.Errorf("SigV4a key cache: %d misses, %d hits; want 2 and 2", st.Misses, st.Hits)
	}
}

// TestSigV4aDebugSigning: --debug-signing logs a SigV4a request's
// canonical request and string to sign, recomputed for its region set, as
// it does SigV4's (it logged "cannot recompute" for each one).
func TestSigV4aDebugSigning(t *testing.T) {
	up := newV4aUpstream(t, "events", "us-east-1")
	cfg := hostModeVia(up)
	cfg.DebugSigning = true
	proxy, logs := startProxy(t, cfg, newStaticSource())
	if status, got := send(t, proxy.URL, http.MethodPost, "abcde.veo.endpoint.events.amazonaws.com", "/", `{"Entries":[]}`); status != http.StatusOK {
		t.Fatalf("status %d (%s)", status, got)
	}
	date := up.last(t).result.Time.Format("20060102")
	out := logs.String()
	for _, want := range []string{`"msg":"signed request"`, `"scope":"` + date + `/events/aws4_request"`, `x-amz-region-set:*`, `"string_to_sign":"AWS4-ECDSA-P256-SHA256\n`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cannot recompute") {
		t.Errorf("the SigV4a request was not recomputed:\n%s", out)
	}
}

// TestSigV4aPassesClientUnsignedChunks: a client's unsigned aws-chunked
// upload (STREAMING-UNSIGNED-PAYLOAD-TRAILER), which has no chunk
// signatures to re-sign, reaches a SigV4a host byte for byte, its headers
// signed with SigV4a.
func TestSigV4aPassesClientUnsignedChunks(t *testing.T) {
	up := newV4aUpstream(t, "s3", "us-east-1")
	proxy, _ := startProxy(t, hostModeVia(up), newStaticSource())
	c := newClientUpload(t, testPayload(100<<10), signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32", ChunkSize: signer.MinChunkSize})
	req := c.request(t, proxy.URL, c.body, true)
	req.Host = "m1.mrap.accesspoint.s3-global.amazonaws.com"
	resp, body := sendTo(t, req)
	seen := up.last(t)
	if resp.StatusCode != http.StatusOK || seen.err != nil {
		t.Fatalf("status %d (%s), upstream: %v", resp.StatusCode, body, seen.err)
	}
	if seen.body != string(c.body) || !strings.HasPrefix(seen.authorization, signer.AlgorithmV4a+" ") ||
		!strings.HasSuffix(seen.result.CanonicalRequest, "\n"+signer.StreamingUnsignedPayloadTrailer) {
		t.Errorf("upstream got %d bytes (client sent %d), Authorization %q, canonical request ends %q", len(seen.body), len(c.body),
			seen.authorization, seen.result.CanonicalRequest[strings.LastIndex(seen.result.CanonicalRequest, "\n")+1:])
	}
}

// BenchmarkProxyGETBySigningAlgorithm: a small GET through the proxy in
// fixed mode, signed with SigV4 and with SigV4a (its key cached after the
// first request), the rest of the setup the same.
func BenchmarkProxyGETBySigningAlgorithm(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	b.Cleanup(up.Close)
	for _, bc := range []struct {
		name      string
		regionSet []string
	}{{"SigV4", nil}, {"SigV4a", []string{"*"}}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig()
			cfg.Upstream, cfg.Service, cfg.Region, cfg.RegionSet = up.URL, "s3", "us-east-1", bc.regionSet
			p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(p)
			b.Cleanup(func() { srv.Close(); p.Close() })
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			b.Cleanup(client.CloseIdleConnections)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(srv.URL + "/bucket/key")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
