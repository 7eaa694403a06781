package creds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestLoadOffEC2NoIMDSv1WarningNorRetries: with nothing configured and no
// EC2 metadata service behind the metadata address (nothing answers, the
// port refuses, or another cloud's metadata server answers 404), Load
// returns the typed no-credentials error after one fetch, not three spaced
// by backoff, and neither the log nor stderr carries the SDK's "falling
// back to IMDSv1" warning (issue 20).
func TestLoadOffEC2NoIMDSv1WarningNorRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint func(t *testing.T) (url string, requests func() int)
	}{
		{"silent", silentMetadataAddress},
		{"refusing", refusingMetadataAddress},
		{"answering 404", notFoundMetadataAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			url, requests := tc.endpoint(t)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)

			var logBuf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logBuf, nil)) // Info, serve's default
			var err error
			stderr := captureStderr(t, func() { _, err = Load(context.Background(), Config{}, log) })

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

// silentMetadataAddress accepts connections and never answers, as a black
// hole would. requests counts the connections after the first: the first
// carries IMDSv2's token request, which fails once for the process.
func silentMetadataAddress(t *testing.T) (string, func() int) {
	l := listen(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns) - 1
	}
}

// refusingMetadataAddress is a loopback port nothing listens on.
func refusingMetadataAddress(t *testing.T) (string, func() int) {
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr, nil
}

// notFoundMetadataAddress answers 404 to everything, as another cloud's
// metadata server does to EC2's paths; requests counts the reads of the
// instance profile's role.
func notFoundMetadataAddress(t *testing.T) (string, func() int) {
	var mu sync.Mutex
	var roleReads int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/meta-data/iam/security-credentials/" {
			mu.Lock()
			roleReads++
			mu.Unlock()
		}
		http.NotFound(w, r)
	}))
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, func() int {
		mu.Lock()
		defer mu.Unlock()
		return roleReads
	}
}

// captureStderr runs f with os.Stderr writing into a pipe, where the SDK's
// default logger would print, and returns what was written.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() {
		os.Stderr = saved
	}()
	f()
	os.Stderr = saved
	w.Close()
	return <-done
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
