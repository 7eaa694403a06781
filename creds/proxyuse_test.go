package creds

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
)

// TestRotationUnderLoadZeroFailures plays the proxy's part with the API it
// will use: Retrieve per request, and on a credential rejection Invalidate
// the key id and retry once. The upstream accepts only the endpoint's
// current key (and the previous one for a short grace) and checks a MAC
// made with the secret, so a torn or stale pair fails. Across at least 10
// rotations no request may fail.
func TestRotationUnderLoadZeroFailures(t *testing.T) {
	const (
		period    = 500 * time.Millisecond
		rotations = 10
		grace     = 50 * time.Millisecond
	)
	ecs, c := ecsCache(t, period, 3*period)

	var (
		acceptedMu sync.Mutex
		accepted   = map[int]bool{}
	)
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		keyID := r.Header.Get("X-Key-Id")
		num, ok := strings.CutPrefix(keyID, "ASIAECS")
		gen, err := strconv.Atoi(num)
		now := time.Now()
		current := ecs.generation(now)
		sinceRotation := now.Sub(ecs.start.Add(time.Duration(current-1) * period))
		switch {
		case !ok || err != nil:
			rejectXML(w, "InvalidClientTokenId")
		case gen != current && !(gen == current-1 && sinceRotation < grace):
			rejectXML(w, "ExpiredToken")
		case r.Header.Get("X-Mac") != mac(genSecret(gen), body):
			rejectXML(w, "SignatureDoesNotMatch")
		default:
			acceptedMu.Lock()
			accepted[gen] = true
			acceptedMu.Unlock()
			w.WriteHeader(http.StatusOK)
		}
	}))
	upstream.Listener = listen(t)
	upstream.Start()
	t.Cleanup(upstream.Close)

	// send is one proxied request: sign with the current credentials.
	send := func(body []byte) (int, string, Credentials, error) {
		cr, err := c.Retrieve(context.Background())
		if err != nil {
			return 0, "", cr, err
		}
		req, _ := http.NewRequest(http.MethodPost, upstream.URL, bytes.NewReader(body))
		req.Header.Set("X-Key-Id", cr.AccessKeyID)
		req.Header.Set("X-Mac", mac(cr.SecretAccessKey, body))
		resp, err := upstream.Client().Do(req)
		if err != nil {
			return 0, "", cr, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code := ""
		if _, rest, ok := strings.Cut(string(b), "<Code>"); ok {
			code, _, _ = strings.Cut(rest, "</Code>")
		}
		return resp.StatusCode, code, cr, nil
	}

	var (
		stop              atomic.Bool
		requests, retries atomic.Int64
		wg                sync.WaitGroup
		failures          = make(chan string, 100)
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				body := []byte(fmt.Sprintf("worker %d request %d", w, i))
				requests.Add(1)
				status, code, cr, err := send(body)
				if err == nil && status != http.StatusOK && awserror.IsCredentialRejection(code) {
					retries.Add(1)
					c.Invalidate(cr.AccessKeyID)
					status, code, _, err = send(body)
				}
				if err != nil || status != http.StatusOK {
					select {
					case failures <- fmt.Sprintf("request failed: status %d code %q err %v", status, code, err):
					default:
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	// Run until requests have gone through rotations+1 generations: on a
	// loaded machine the Cache may jump a generation no request used.
	acceptedCount := func() int {
		acceptedMu.Lock()
		defer acceptedMu.Unlock()
		return len(accepted)
	}
	deadline := time.Now().Add(60 * time.Second)
	for acceptedCount() <= rotations && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	n := acceptedCount()
	if n <= rotations {
		t.Errorf("upstream accepted %d generations in 60s, want %d", n, rotations+1)
	}
	if m := ecs.maxIn.Load(); m != 1 {
		t.Errorf("endpoint served %d fetches at once, want 1", m)
	}
	t.Logf("%d requests over %d generations, %d retried after a rejection, %d fetches", requests.Load(), n, retries.Load(), ecs.fetches.Load())
}

func mac(secret string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func rejectXML(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>rejected</Message></Error>", code)
}
