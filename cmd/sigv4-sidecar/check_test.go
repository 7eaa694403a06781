package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds/credstest"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

const (
	stubAccessKey = "AKIDCHECKSTUB0000001"
	stubSecret    = "check-stub-secret/K7MDENG+bPxRfiCYEXAMPLEKEY"
	stubARN       = "arn:aws:iam::123456789012:user/checker"
)

// stsStub answers GetCallerIdentity for requests whose SigV4 signature
// verifies with the signer's verifier against secret, and SignatureDoesNotMatch
// otherwise. dateOffset shifts the Date header it sends.
func stsStub(t *testing.T, secret string, dateOffset time.Duration) (*httptest.Server, *verdicts) {
	t.Helper()
	seen := &verdicts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(dateOffset).UTC().Format(http.TimeFormat))
		lookup := func(id string) (signer.Credentials, bool) {
			return signer.Credentials{AccessKeyID: stubAccessKey, SecretAccessKey: secret}, id == stubAccessKey
		}
		_, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: "sts", Region: "us-east-1", HashBody: true})
		seen.add(fmt.Sprint(err))
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "GetCallerIdentity" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>%s</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, stubARN)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// verdicts collects what a stub's verifier said, one entry per request.
type verdicts struct {
	mu   sync.Mutex
	list []string
}

func (v *verdicts) add(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.list = append(v.list, s)
}

func (v *verdicts) get() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.list...)
}

func credentialsFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	content := "[default]\naws_access_key_id = " + stubAccessKey + "\naws_secret_access_key = " + stubSecret + "\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCheckArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runCheck(context.Background(), invocation{args: args, stdout: &stdout, stderr: &stderr})
	return stdout.String() + stderr.String(), err
}

func TestCheckAgainstSTSStub(t *testing.T) {
	srv, seen := stsStub(t, stubSecret, 0)
	out, err := runCheckArgs(t, "--credentials-file", credentialsFile(t), "--sts-endpoint", srv.URL, "--sts-region", "us-east-1",
		"--endpoint", "https://sqs.eu-west-1.amazonaws.com/")
	if err != nil {
		t.Fatalf("check failed: %v\n%s\nverifier: %v", err, out, seen.get())
	}
	for _, want := range []string{
		"identity:    " + stubARN,
		"credentials: credentials-file",
		"does not expire",
		"signs as service sqs, region eu-west-1",
		"clock:",
		"\nok\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := seen.get(); len(got) != 1 || got[0] != "<nil>" {
		t.Errorf("the stub's verifier saw %v, want one verified request", got)
	}
	if strings.Contains(out, stubSecret) || strings.Contains(out, stubAccessKey) {
		t.Errorf("output shows a key:\n%s", out)
	}
}

func TestCheckFailsOnWrongSecret(t *testing.T) {
	srv, _ := stsStub(t, "another-secret", 0)
	out, err := runCheckArgs(t, "--credentials-file", credentialsFile(t), "--sts-endpoint", srv.URL)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "SignatureDoesNotMatch") {
		t.Fatalf("err = %v, want exit 1 naming SignatureDoesNotMatch\n%s", err, out)
	}
	if !strings.Contains(out, "[signature-mismatch]") {
		t.Errorf("no diagnosis in output:\n%s", out)
	}
}

func TestCheckFailsOnSkewedClock(t *testing.T) {
	srv, _ := stsStub(t, stubSecret, 20*time.Minute)
	out, err := runCheckArgs(t, "--credentials-file", credentialsFile(t), "--sts-endpoint", srv.URL)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "clock is") {
		t.Fatalf("err = %v, want exit 1 naming the clock\n%s", err, out)
	}
	if !strings.Contains(out, "AWS rejects signatures beyond 15m") {
		t.Errorf("output:\n%s", out)
	}
}

func TestCheckFailsWithoutCredentials(t *testing.T) {
	srv, seen := stsStub(t, stubSecret, 0)
	out, err := runCheckArgs(t, "--credentials-file", filepath.Join(t.TempDir(), "absent"), "--sts-endpoint", srv.URL)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit 1\n%s", err, out)
	}
	if len(seen.get()) != 0 {
		t.Errorf("STS was called without credentials")
	}
}

// TestCheckOffEC2SaysItsFailureOnce: with nothing configured and the
// metadata address answered by a stand-in as it is off EC2 (silent,
// refusing, or 404), check prints the no-credentials fix once, on stdout,
// with none of the SDK's output (its "falling back to IMDSv1" warning went
// to the process's stderr), asks the metadata address for a role once and
// never calls STS (issue 20).
func TestCheckOffEC2SaysItsFailureOnce(t *testing.T) {
	for _, standIn := range credstest.OffEC2 {
		t.Run(standIn.Name, func(t *testing.T) {
			credstest.IsolateEnvironment(t, "")
			url, roleReads := standIn.Start(t)
			credstest.UseMetadataAddress(t, url)
			srv, seen := stsStub(t, stubSecret, 0)

			var out string
			var err error
			processStderr := credstest.CaptureStderr(t, func() { out, err = runCheckArgs(t, "--sts-endpoint", srv.URL) })

			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 {
				t.Fatalf("check: got %v, want exit 1\n%s", err, out)
			}
			if want := "credentials: " + noCredentialsFix; !strings.HasPrefix(out, want) {
				t.Errorf("check printed %q, want it to start with %q", out, want)
			}
			all := out + ee.msg + processStderr
			if n := strings.Count(all, "no credentials found"); n != 1 {
				t.Errorf("check says its failure %d times, want once:\n%s\n%s\nprocess stderr: %s", n, out, ee.msg, processStderr)
			}
			for _, sdkNoise := range []string{"IMDSv1", "ec2imds", "GetMetadata", "operation error", "SDK "} {
				if strings.Contains(all, sdkNoise) {
					t.Errorf("check shows the SDK's output (%q):\n%s\nprocess stderr: %s", sdkNoise, out, processStderr)
				}
			}
			if roleReads != nil {
				if n := roleReads(); n != 1 {
					t.Errorf("the metadata address was asked for credentials %d times, want once", n)
				}
			}
			if len(seen.get()) != 0 {
				t.Errorf("STS was called without credentials")
			}
		})
	}
}

func TestCheckFailsOnUnknownEndpoint(t *testing.T) {
	srv, _ := stsStub(t, stubSecret, 0)
	out, err := runCheckArgs(t, "--credentials-file", credentialsFile(t), "--sts-endpoint", srv.URL, "--endpoint", "https://intranet.example/")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "--service") {
		t.Fatalf("err = %v, want exit 1 naming --service\n%s", err, out)
	}
}

// TestCheckReportsExpiry: credentials that expire (here from a container
// credentials endpoint, as on ECS or EKS Pod Identity) are reported with
// their source and expiry.
func TestCheckReportsExpiry(t *testing.T) {
	credstest.IsolateEnvironment(t, "")
	expires := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"AccessKeyId":%q,"SecretAccessKey":%q,"Token":"check-session-token","Expiration":%q}`,
			stubAccessKey, stubSecret, expires.Format(time.RFC3339))
	}))
	t.Cleanup(endpoint.Close)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.URL+"/creds")
	srv, seen := stsStub(t, stubSecret, 0)
	out, err := runCheckArgs(t, "--sts-endpoint", srv.URL, "--sts-region", "us-east-1")
	if err != nil {
		t.Fatalf("check failed: %v\n%s\nverifier: %v", err, out, seen.get())
	}
	for _, want := range []string{"credentials: container-endpoint", "expires " + expires.Format(time.RFC3339), "\nok\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "does not expire") || strings.Contains(out, "check-session-token") || strings.Contains(out, stubSecret) {
		t.Errorf("output:\n%s", out)
	}
}
