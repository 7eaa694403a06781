package creds

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const (
	irsaRole   = "arn:aws:iam::123456789012:role/irsa"
	targetRole = "arn:aws:iam::210987654321:role/cross-account"
)

// irsaEnv sets up what the EKS pod identity webhook injects for IRSA and
// returns the token file.
func irsaEnv(t *testing.T, token string) string {
	t.Helper()
	dir := isolateAWSEnv(t)
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, token)
	t.Setenv("AWS_ROLE_ARN", irsaRole)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	t.Setenv("AWS_ROLE_SESSION_NAME", "pod-abc")
	return tokenFile
}

// TestWebIdentityAgainstSTSStub: IRSA's AssumeRoleWithWebIdentity reaches
// --sts-endpoint, unsigned, with the role, session name and the token read
// from the file on every fetch.
func TestWebIdentityAgainstSTSStub(t *testing.T) {
	tokenFile := irsaEnv(t, "eyJhbGciOiJSUzI1NiJ9.first")
	stub := newSTSStub(t)
	stub.Expect("AssumeRoleWithWebIdentity", map[string]string{
		"RoleArn":          irsaRole,
		"RoleSessionName":  "pod-abc",
		"WebIdentityToken": "eyJhbGciOiJSUzI1NiJ9.first",
	}, "")
	p, err := Resolve(context.Background(), Config{STSEndpoint: stub.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if gen, err := genOf(got, "ASIASTSWI"); err != nil || gen != 1 || got.Source != "web-identity" || !got.CanExpire {
		t.Fatalf("Retrieve = %v (%v), want generation 1 from web-identity, expiring", got, err)
	}

	// The kubelet rotates the projected token; the next fetch sends the new one.
	writeFile(t, tokenFile, "eyJhbGciOiJSUzI1NiJ9.second")
	stub.Expect("AssumeRoleWithWebIdentity", map[string]string{
		"RoleArn":          irsaRole,
		"RoleSessionName":  "pod-abc",
		"WebIdentityToken": "eyJhbGciOiJSUzI1NiJ9.second",
	}, "")
	c.Invalidate(got.AccessKeyID)
	if gen, err := genOf(mustRetrieve(t, c), "ASIASTSWI"); err != nil || gen != 2 {
		t.Fatalf("after Invalidate: generation %d (%v), want 2", gen, err)
	}
	if n := len(stub.Calls("AssumeRoleWithWebIdentity")); n != 2 {
		t.Errorf("%d AssumeRoleWithWebIdentity calls, want 2", n)
	}
}

// TestAssumeRoleOnWebIdentity: --role-arn on top of IRSA (the cross-account
// pattern): AssumeRole is signed with the web-identity keys and carries the
// external id, session name and duration.
func TestAssumeRoleOnWebIdentity(t *testing.T) {
	irsaEnv(t, "eyJhbGciOiJSUzI1NiJ9.jwt")
	stub := newSTSStub(t)
	stub.Expect("AssumeRoleWithWebIdentity", map[string]string{
		"RoleArn":          irsaRole,
		"WebIdentityToken": "eyJhbGciOiJSUzI1NiJ9.jwt",
	}, "")
	stub.Expect("AssumeRole", map[string]string{
		"RoleArn":         targetRole,
		"RoleSessionName": "sidecar-test@pod",
		"ExternalId":      "ext-4b1d:tenant/7",
		"DurationSeconds": "1200",
	}, genKeyID("ASIASTSWI", 1))
	p, err := Resolve(context.Background(), Config{
		STSEndpoint:     stub.URL,
		RoleARN:         targetRole,
		RoleSessionName: "sidecar-test@pod",
		ExternalID:      "ext-4b1d:tenant/7",
		RoleDuration:    20 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if gen, err := genOf(got, "ASIASTSAR"); err != nil || gen != 2 || got.Source != "assume-role via web-identity" {
		t.Fatalf("Retrieve = %v (%v), want generation 2 from assume-role via web-identity", got, err)
	}
	if n := len(stub.Calls("AssumeRole")); n != 1 {
		t.Errorf("%d AssumeRole calls, want 1", n)
	}
}

// TestAssumeRoleOnCredentialsFile: --role-arn on static keys from
// --credentials-file, with the session name derived from the host name and
// the default duration, STS found through AWS_ENDPOINT_URL_STS; a rotated
// file means a new AssumeRole signed with the new keys.
func TestAssumeRoleOnCredentialsFile(t *testing.T) {
	isolateAWSEnv(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "credentials")
	writeFile(t, path, fileContent("default", 1))
	stub := newSTSStub(t)
	want := map[string]string{
		"RoleArn":         targetRole,
		"RoleSessionName": SessionNameFromHost(host),
		"ExternalId":      "ext-id",
		"DurationSeconds": "3600",
	}
	stub.Expect("AssumeRole", want, genKeyID("AKIAFILE", 1))
	// The SDK's own endpoint variable, not --sts-endpoint, as with an
	// emulator configured for every AWS client.
	t.Setenv("AWS_ENDPOINT_URL_STS", stub.URL)
	p, err := Resolve(context.Background(), Config{
		CredentialsFile: path,
		RoleARN:         targetRole,
		ExternalID:      "ext-id",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if _, err := genOf(got, "ASIASTSAR"); err != nil || got.Source != "assume-role via credentials-file" {
		t.Fatalf("Retrieve = %v (%v)", got, err)
	}

	stub.Expect("AssumeRole", want, genKeyID("AKIAFILE", 2))
	replaceFile(t, path, fileContent("default", 2))
	waitFor(t, "an AssumeRole signed with the rotated keys", func() bool {
		return len(stub.Calls("AssumeRole")) >= 2 && mustRetrieve(t, c).AccessKeyID != got.AccessKeyID
	})
}

func TestSessionNameFromHost(t *testing.T) {
	long := strings.Repeat("a", 100)
	for host, want := range map[string]string{
		"ip-10-0-0-1.ec2.internal": "sigv4-sidecar-ip-10-0-0-1.ec2.internal",
		"app-7d9f8-xk2lp":          "sigv4-sidecar-app-7d9f8-xk2lp",
		"pod/ä b":                  "sigv4-sidecar-pod---b",
		"":                         "sigv4-sidecar",
		"!!!":                      "sigv4-sidecar",
		long:                       ("sigv4-sidecar-" + long)[:64],
	} {
		got := SessionNameFromHost(host)
		if got != want {
			t.Errorf("SessionNameFromHost(%q) = %q, want %q", host, got, want)
		}
		if err := validateSessionName(got); err != nil {
			t.Errorf("SessionNameFromHost(%q) = %q, which STS refuses: %v", host, got, err)
		}
	}
}

func FuzzSessionNameFromHost(f *testing.F) {
	f.Add("ip-10-0-0-1.ec2.internal")
	f.Add("")
	f.Add(strings.Repeat("é", 70))
	f.Fuzz(func(t *testing.T, host string) {
		if got := SessionNameFromHost(host); validateSessionName(got) != nil {
			t.Fatalf("SessionNameFromHost(%q) = %q, which STS refuses", host, got)
		}
	})
}

// TestSTSDefaultsToRegionalEndpoint pins what the README promises: with no
// --sts-endpoint, STS calls go to the regional endpoint of the region,
// never the legacy global sts.amazonaws.com.
func TestSTSDefaultsToRegionalEndpoint(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":  "https://sts.us-east-1.amazonaws.com",
		"eu-west-1":  "https://sts.eu-west-1.amazonaws.com",
		"cn-north-1": "https://sts.cn-north-1.amazonaws.com.cn",
	} {
		o := Config{}.stsOptions(region)
		ep, err := sts.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), sts.EndpointParameters{
			Region: aws.String(o.Region), Endpoint: o.BaseEndpoint,
		})
		if err != nil || ep.URI.String() != want {
			t.Errorf("region %s: %v (%v), want %s", region, ep.URI.String(), err, want)
		}
	}
	if o := (Config{STSEndpoint: "http://127.0.0.1:4566"}).stsOptions("us-east-1"); aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:4566" {
		t.Errorf("--sts-endpoint not applied: %v", o.BaseEndpoint)
	}
}
