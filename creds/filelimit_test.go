package creds

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// twoMiB writes a file just over the limit, of content that looks like what
// the file should hold, and returns its path.
func twoMiB(t *testing.T, name, line string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	writeFile(t, path, strings.Repeat(line, 2<<20/len(line)+1))
	return path
}

// TestCredentialsFileLargerThan1MiBIsRefused: --credentials-file /dev/zero
// ended in "fatal error: out of memory" (os.ReadFile reads to the end). Files
// an operator names are read up to 1 MiB; beyond, the error names the limit.
func TestCredentialsFileLargerThan1MiBIsRefused(t *testing.T) {
	isolateAWSEnv(t)
	big := twoMiB(t, "credentials", "# padding line of a credentials file\n")
	p, _ := newFileProvider(big, "")
	_, err := p.Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--credentials-file") || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("a 2 MiB credentials file: %v, want an error naming the 1 MiB limit", err)
	}
	p, _ = newFileProvider("/dev/zero", "")
	if _, err := p.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("/dev/zero: %v", err)
	}
	if p.Changed() {
		t.Error("Changed reported /dev/zero as new content")
	}
}

// TestWebIdentityTokenFileLargerThan1MiBIsRefused: the SDK read
// AWS_WEB_IDENTITY_TOKEN_FILE whole, whatever its size; it now reads it
// through ReadFile, and nothing is sent to STS.
func TestWebIdentityTokenFileLargerThan1MiBIsRefused(t *testing.T) {
	irsaEnv(t, "unused")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", twoMiB(t, "token", "eyJhbGciOiJSUzI1NiJ9"))
	stub := newSTSStub(t)
	p, err := Resolve(context.Background(), Config{STSEndpoint: stub.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("a 2 MiB web identity token: %v, want an error naming the 1 MiB limit", err)
	}
	if n := len(stub.Calls("AssumeRoleWithWebIdentity")); n != 0 {
		t.Errorf("%d AssumeRoleWithWebIdentity calls carried the oversized token", n)
	}
}

// TestContainerTokenFileLargerThan1MiBIsRefused: the same for EKS Pod
// Identity's AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
func TestContainerTokenFileLargerThan1MiBIsRefused(t *testing.T) {
	isolateAWSEnv(t)
	ecs := newECSServer(t, 0, 0)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.URL)
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", twoMiB(t, "token", "pod-identity-token"))
	p, err := Resolve(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("a 2 MiB authorization token: %v, want an error naming the 1 MiB limit", err)
	}
	if n := ecs.fetches.Load(); n != 0 {
		t.Errorf("%d fetches reached the endpoint", n)
	}
}
