package creds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds/credstest"
)

// TestLoadOffEC2NoIMDSv1WarningNorRetries: with nothing configured and no
// EC2 metadata service behind the metadata address (nothing answers, the
// port refuses, or another cloud's metadata server answers 404), Load
// returns the typed no-credentials error after one fetch, not three spaced
// by backoff, and neither the log nor stderr carries the SDK's "falling
// back to IMDSv1" warning (issue 20).
func TestLoadOffEC2NoIMDSv1WarningNorRetries(t *testing.T) {
	for _, standIn := range credstest.OffEC2 {
		t.Run(standIn.Name, func(t *testing.T) {
			isolateAWSEnv(t)
			url, requests := standIn.Start(t)
			credstest.UseMetadataAddress(t, url)

			var logBuf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logBuf, nil)) // Info, serve's default
			var err error
			stderr := credstest.CaptureStderr(t, func() { _, err = Load(context.Background(), Config{}, log) })

			var none *NoSourceError
			if !errors.As(err, &none) || !errors.Is(err, ErrNoCredentials) {
				t.Fatalf("Load = %v, want a *NoSourceError wrapping ErrNoCredentials", err)
			}
			for where, out := range map[string]string{"log": logBuf.String(), "stderr": stderr} {
				if strings.Contains(out, "IMDSv1") {
					t.Errorf("the %s carries the SDK's IMDSv1 fallback warning:\n%s", where, out)
				}
			}
			if n := strings.Count(logBuf.String(), `"msg":"credentials fetch failed"`); n != 1 {
				t.Errorf("Load fetched %d times, want once (nothing a retry could change):\n%s", n, logBuf.String())
			}
			if requests != nil {
				if n := requests(); n != 1 {
					t.Errorf("the metadata address was asked for credentials %d times, want once", n)
				}
			}
		})
	}
}

// TestNoSourceErrorFinal: only a metadata service that throttles or fails
// (429, 5xx) is asked again at start; one that is absent, off or says
// there is no role is not.
func TestNoSourceErrorFinal(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("operation error ec2imds: GetMetadata, %w", &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
			Err:      errors.New("request to EC2 IMDS failed"),
		})
	}
	for _, tc := range []struct {
		name  string
		err   error
		final bool
	}{
		{"unreachable", &smithyhttp.RequestSendError{Err: errors.New("dial tcp 169.254.169.254:80: i/o timeout")}, true},
		{"disabled", errors.New(`access disabled to EC2 IMDS via client option, or "AWS_EC2_METADATA_DISABLED" environment variable`), true},
		{"no role", status(http.StatusNotFound), true},
		{"forbidden", status(http.StatusForbidden), true},
		{"throttled", status(http.StatusTooManyRequests), false},
		{"failing", status(http.StatusServiceUnavailable), false},
		{"internal error", status(http.StatusInternalServerError), false},
	} {
		if got := (&NoSourceError{Err: tc.err}).final(); got != tc.final {
			t.Errorf("%s: final() = %v, want %v", tc.name, got, tc.final)
		}
	}
}
