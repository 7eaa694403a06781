//go:build e2e

package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignatureDiffAgainstVersitygw: a hop after the proxy changes a signed
// header, so versitygw computes another canonical request and returns it in
// its SignatureDoesNotMatch body. The client gets that body untouched; the
// proxy's diagnosis diffs versitygw's real canonical request against ours
// and names the header as the first difference (issue 8).
func TestSignatureDiffAgainstVersitygw(t *testing.T) {
	s := serverNamed("versitygw")
	tp := newTap(t, s, func(r *http.Request) { r.Header.Set("X-Amz-Meta-Team", "changed-on-the-way") })
	sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
		"--upstream", tp.url(), "--region", region, "--service", "s3")
	a := newApp(sc, fixedMode)
	req := a.request(t, http.MethodPut, "e2e-diff", "some key.txt", "", strings.NewReader("never stored"))
	req.Header.Set("X-Amz-Meta-Team", "e2e")
	resp, body := a.do(t, req)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403:\n%s", resp.StatusCode, body)
	}
	if e, err := parseS3Error(body); err != nil || e.Code != "SignatureDoesNotMatch" {
		t.Fatalf("error code %q (%v), want SignatureDoesNotMatch:\n%s", e.Code, err, body)
	}
	if status, sent := tp.last(); status != resp.StatusCode || !bytes.Equal(sent, body) {
		t.Errorf("the client got a different answer from the one the server sent:\nserver %d:\n%s\nclient %d:\n%s", status, sent, resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "CanonicalRequest") {
		t.Fatalf("versitygw's body carries no canonical request to diff against:\n%s", body)
	}
	var diagnosis map[string]any
	for deadline := time.Now().Add(5 * time.Second); diagnosis == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		diagnosis = logRecord(sc, "aws_code", "SignatureDoesNotMatch")
	}
	if diagnosis == nil {
		t.Fatalf("the proxy's log has no diagnosis of the SignatureDoesNotMatch:\n%s", sc.log.String())
	}
	if causes, _ := diagnosis["causes"].(string); !strings.Contains(causes, "canonical-header-differs") {
		t.Errorf("causes %q, want canonical-header-differs: %v", causes, diagnosis)
	}
	if part := diagnosis["first_difference"]; part != "header x-amz-meta-team" {
		t.Errorf("first_difference %v, want header x-amz-meta-team", part)
	}
	diff, _ := diagnosis["canonical_request_diff"].(string)
	if !strings.Contains(diff, "- x-amz-meta-team:changed-on-the-way") || !strings.Contains(diff, "+ x-amz-meta-team:e2e") {
		t.Errorf("diff of versitygw's canonical request (-) against ours (+):\n%s", diff)
	}
	assertNoSecrets(t, sc, s.secretKey)
}
