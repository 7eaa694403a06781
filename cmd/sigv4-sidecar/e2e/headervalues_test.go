//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// headerValues are Content-Disposition values whose white space SigV4
// verifiers canonicalize differently: MinIO collapses all three, so the
// proxy signing them as they stood got SignatureDoesNotMatch.
var headerValues = map[string]string{
	"tab":    "attachment;\tfilename=\"a\tb.txt\"",
	"nbsp":   "attachment; filename=\"a\u00a0b.txt\"",
	"u3000":  "attachment; filename=\"a\u3000b.txt\"",
	"spaces": "attachment; filename=\"a  b.txt\"", // read alike everywhere: stays signed
}

// TestHeaderValuesReadBackEqual: a PUT whose Content-Disposition holds a
// TAB, U+00A0 or U+3000 is stored through the proxy and read back byte for
// byte, on each server, over plain HTTP (fixed mode) and TLS (host mode).
// An X-Amz-Meta-* value with a TAB, which S3 requires signed, is refused by
// the proxy with 400 ambiguous_header_value and never reaches the server.
// User-metadata names reach the client in lower case, as S3 sends them.
func TestHeaderValuesReadBackEqual(t *testing.T) {
	for _, s := range servers {
		for _, mode := range []string{fixedMode, hostPathMode} {
			t.Run(s.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				bucket := newBucketName("e2e-hdr")
				sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), sidecarArgs(s, mode, bucket)...)
				a := newApp(sc, mode)
				a.server = s.name
				a.expect(t, a.request(t, http.MethodPut, bucket, "", "", nil), http.StatusOK)
				for name, value := range headerValues {
					key := "disposition-" + name + ".txt"
					req := a.request(t, http.MethodPut, bucket, key, "", strings.NewReader("content of "+key))
					req.Header.Set("Content-Disposition", value)
					req.Header.Set("X-Amz-Meta-My-Key", "v")
					a.expect(t, req, http.StatusOK)
					for _, method := range []string{http.MethodHead, http.MethodGet} {
						resp, _ := a.expect(t, a.request(t, method, bucket, key, "", nil), http.StatusOK)
						if got := resp.Header.Values("Content-Disposition"); len(got) != 1 || got[0] != value {
							t.Errorf("%s %s: Content-Disposition %q, want %q", method, key, got, value)
						}
					}
				}

				req := a.request(t, http.MethodPut, bucket, "meta-tab.txt", "", strings.NewReader("x"))
				req.Header.Set("X-Amz-Meta-Note", "a\tb")
				resp, body := a.do(t, req)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Sigv4-Sidecar-Error") != "ambiguous_header_value" || !bytes.Contains(body, []byte("x-amz-meta-note")) {
					t.Errorf("X-Amz-Meta-Note with a TAB: status %d %q: %s", resp.StatusCode, resp.Header.Get("X-Sigv4-Sidecar-Error"), body)
				}
				resp, _ = a.do(t, a.request(t, http.MethodHead, bucket, "meta-tab.txt", "", nil))
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("the refused PUT stored an object: HEAD answered %d", resp.StatusCode)
				}

				if mode == fixedMode {
					block := rawHead(t, sc.proxyAddr, "/"+bucket+"/disposition-tab.txt")
					if !strings.Contains(block, "\r\nx-amz-meta-my-key: v\r\n") {
						t.Errorf("HEAD header block lacks x-amz-meta-my-key in lower case:\n%s", block)
					}
				}
			})
		}
	}
}

// rawHead sends a HEAD for target to the proxy at addr and returns the
// answer's header block as the bytes arrived: net/http's client would
// canonicalize the names before a test saw them.
func rawHead(t *testing.T, addr, target string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "HEAD "+target+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var block strings.Builder
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		block.WriteString(line)
		if err != nil || line == "\r\n" {
			return block.String()
		}
	}
}
