package creds

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ssoStub is the IAM Identity Center portal's GetRoleCredentials: it checks
// the bearer token from the SSO cache, the account and the role.
type ssoStub struct {
	URL      string
	token    atomic.Pointer[string]
	lifetime time.Duration
	issued   atomic.Int64
	rejected atomic.Int64
}

func newSSOStub(t *testing.T, token string, lifetime time.Duration) *ssoStub {
	s := &ssoStub{lifetime: lifetime}
	s.token.Store(&token)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != "/federation/credentials" ||
			q.Get("account_id") != "123456789012" || q.Get("role_name") != "Developer" {
			t.Errorf("SSO stub: unexpected %s %s", r.Method, r.URL)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.Header.Get("X-Amz-Sso_bearer_token") != *s.token.Load() {
			s.rejected.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-Errortype", "UnauthorizedException")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"Session token not found or invalid"}`)
			return
		}
		n := int(s.issued.Add(1))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"roleCredentials": map[string]any{
			"accessKeyId":     genKeyID("ASIASSO", n),
			"secretAccessKey": genSecret(n),
			"sessionToken":    genToken(n),
			"expiration":      time.Now().Add(s.lifetime).UnixMilli(),
		}})
	}))
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// ssoLogin writes the SSO token cache the way `aws sso login` does.
func ssoLogin(t *testing.T, home, session, accessToken string) {
	t.Helper()
	sum := sha1.Sum([]byte(session))
	path := filepath.Join(home, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"accessToken": accessToken,
		"expiresAt":   time.Now().Add(8 * time.Hour).UTC().Format(time.RFC3339),
		"region":      "eu-west-1",
		"startUrl":    "https://my-org.awsapps.com/start",
	})
	replaceFile(t, path, string(b))
}

// TestSSOProfileLaptopFlow: --profile with IAM Identity Center; the role
// credentials come from the portal with the cached SSO token. When the SSO
// session ends, the held credentials serve until they expire, then
// ErrNoCredentials; a new `aws sso login` brings them back without a
// restart.
func TestSSOProfileLaptopFlow(t *testing.T) {
	home := isolateAWSEnv(t)
	writeFile(t, os.Getenv("AWS_CONFIG_FILE"), `[profile dev]
sso_session = my-sso
sso_account_id = 123456789012
sso_role_name = Developer
region = eu-west-1

[sso-session my-sso]
sso_start_url = https://my-org.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
`)
	ssoLogin(t, home, "my-sso", "sso-token-1")
	stub := newSSOStub(t, "sso-token-1", 2*time.Second)
	t.Setenv("AWS_ENDPOINT_URL_SSO", stub.URL)

	p, err := Resolve(context.Background(), Config{Profile: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if _, err := genOf(got, "ASIASSO"); err != nil || got.Source != "sso (profile dev)" {
		t.Fatalf("Retrieve = %v (%v), want SSO role credentials", got, err)
	}

	// The SSO session ends (the portal no longer knows the token).
	other := "revoked"
	stub.token.Store(&other)
	waitFor(t, "the held role credentials to expire", func() bool { return !c.Ready() })
	if _, err := c.Retrieve(context.Background()); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("Retrieve after the SSO session ended = %v, want ErrNoCredentials", err)
	}

	// aws sso login again.
	next := "sso-token-2"
	stub.token.Store(&next)
	ssoLogin(t, home, "my-sso", next)
	waitFor(t, "recovery after a new login", func() bool {
		_, err := c.Retrieve(context.Background())
		return err == nil
	})
	if stub.rejected.Load() == 0 {
		t.Error("the portal never saw the ended session's token")
	}
}

// TestCredentialProcessProfile: a profile's credential_process is run on
// every fetch; an Invalidate runs it again.
func TestCredentialProcessProfile(t *testing.T) {
	dir := isolateAWSEnv(t)
	counter := filepath.Join(dir, "n")
	script := filepath.Join(dir, "creds.sh")
	writeFile(t, script, fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s
printf '{"Version":1,"AccessKeyId":"ASIAPROC%%09d","SecretAccessKey":"secret/%%d/wJalrXUtnFEMIK7MDENGbPxRfiCY","SessionToken":"token/%%d/IQoJb3JpZ2luX2VjEDcaCXVzLWVhc3QtMSJH","Expiration":"%[2]s"}' $n $n $n
`, counter, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	writeFile(t, os.Getenv("AWS_CONFIG_FILE"), "[profile proc]\ncredential_process = /bin/sh "+script+"\n")

	p, err := Resolve(context.Background(), Config{Profile: "proc"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if gen, err := genOf(got, "ASIAPROC"); err != nil || gen != 1 || got.Source != "credential-process (profile proc)" || !got.CanExpire {
		t.Fatalf("Retrieve = %v (%v), want generation 1 from credential-process", got, err)
	}
	c.Invalidate(got.AccessKeyID)
	if gen, err := genOf(mustRetrieve(t, c), "ASIAPROC"); err != nil || gen != 2 {
		t.Fatalf("after Invalidate: generation %d (%v), want 2", gen, err)
	}
}

// TestIMDSv2: on EC2 the chain ends at IMDS; every metadata read carries the
// session token from the IMDSv2 PUT.
func TestIMDSv2(t *testing.T) {
	isolateAWSEnv(t)
	var (
		mu     sync.Mutex
		v1Gets []string
		issued atomic.Int64
	)
	const token = "AQAEAHxlD8uGkEXAMPLE=="
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
				http.Error(w, "missing TTL", http.StatusBadRequest)
				return
			}
			// Real IMDS echoes the TTL; without it the SDK deems the
			// token unusable.
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			fmt.Fprint(w, token)
			return
		}
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != token {
			mu.Lock()
			v1Gets = append(v1Gets, r.URL.Path)
			mu.Unlock()
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			fmt.Fprint(w, "node-role")
		case "/latest/meta-data/iam/security-credentials/node-role":
			n := int(issued.Add(1))
			json.NewEncoder(w).Encode(map[string]string{
				"Code": "Success", "LastUpdated": time.Now().UTC().Format(time.RFC3339), "Type": "AWS-HMAC",
				"AccessKeyId": genKeyID("ASIAIMDS", n), "SecretAccessKey": genSecret(n), "Token": genToken(n),
				"Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
			})
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)

	p, err := Resolve(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if _, err := genOf(got, "ASIAIMDS"); err != nil || got.Source != "imds" || !got.CanExpire {
		t.Fatalf("Retrieve = %v (%v), want IMDS role credentials", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(v1Gets) != 0 {
		t.Errorf("metadata reads without an IMDSv2 token: %v", v1Gets)
	}
}

func TestContainerSourceName(t *testing.T) {
	for uri, want := range map[string]string{
		"http://169.254.170.23/v1/credentials":  "eks-pod-identity",
		"http://[fd00:ec2::23]/v1/credentials":  "eks-pod-identity",
		"http://169.254.170.2/v2/credentials/x": "container-endpoint",
		"http://127.0.0.1:9911/creds":           "container-endpoint",
		"":                                      "container-endpoint",
	} {
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)
		if got := containerSourceName(); got != want {
			t.Errorf("FULL_URI %q: %q, want %q", uri, got, want)
		}
	}
}
