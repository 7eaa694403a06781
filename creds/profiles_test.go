package creds

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestSharedCredentialsProfiles: static keys in the shared credentials file
// are found through --profile, through AWS_PROFILE, and as [default], and
// are reported as source shared-credentials (the laptop case of the README).
func TestSharedCredentialsProfiles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        Config
		awsProfile string
		wantKey    string
		wantSource string
	}{
		{"FlagProfile", Config{Profile: "dev"}, "", genKeyID("AKIADEV", 1), "shared-credentials (profile dev)"},
		{"AWSProfileVariable", Config{}, "dev", genKeyID("AKIADEV", 1), "shared-credentials"},
		{"Default", Config{}, "", genKeyID("AKIADEF", 1), "shared-credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			writeFile(t, os.Getenv("AWS_SHARED_CREDENTIALS_FILE"),
				"[default]\naws_access_key_id = "+genKeyID("AKIADEF", 1)+"\naws_secret_access_key = "+genSecret(1)+"\n\n"+
					"[dev]\naws_access_key_id = "+genKeyID("AKIADEV", 1)+"\naws_secret_access_key = "+genSecret(2)+"\n")
			if tc.awsProfile != "" {
				t.Setenv("AWS_PROFILE", tc.awsProfile)
			}
			p, err := Resolve(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := NewCache(p, fastOptions(t))
			defer c.Close()
			got := mustRetrieve(t, c)
			if got.AccessKeyID != tc.wantKey || !strings.HasPrefix(got.Source, tc.wantSource) || got.CanExpire {
				t.Errorf("Retrieve = key %s, source %q, expires %v; want %s from %q, not expiring",
					got.AccessKeyID, got.Source, got.CanExpire, tc.wantKey, tc.wantSource)
			}
		})
	}
}

// TestAssumeRoleProfile: a profile with role_arn and source_profile (and
// external_id) assumes the role with the source profile's keys, against a
// local STS stub that checks what it is sent.
func TestAssumeRoleProfile(t *testing.T) {
	isolateAWSEnv(t)
	writeFile(t, os.Getenv("AWS_SHARED_CREDENTIALS_FILE"),
		"[base]\naws_access_key_id = "+genKeyID("AKIABASE", 1)+"\naws_secret_access_key = "+genSecret(1)+"\n")
	writeFile(t, os.Getenv("AWS_CONFIG_FILE"),
		"[profile target]\nrole_arn = "+targetRole+"\nsource_profile = base\nexternal_id = ext-profile\nregion = eu-west-1\n")
	stub := newSTSStub(t)
	stub.Expect("AssumeRole", map[string]string{"RoleArn": targetRole, "ExternalId": "ext-profile"}, genKeyID("AKIABASE", 1))
	t.Setenv("AWS_ENDPOINT_URL_STS", stub.URL)

	p, err := Resolve(context.Background(), Config{Profile: "target"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	got := mustRetrieve(t, c)
	if _, err := genOf(got, "ASIASTSAR"); err != nil || !strings.HasPrefix(got.Source, "assume-role (profile)") || !got.CanExpire {
		t.Fatalf("Retrieve = %v (%v), want the role's expiring credentials from assume-role (profile)", got, err)
	}
	if n := len(stub.Calls("AssumeRole")); n != 1 {
		t.Errorf("STS got %d AssumeRole calls, want 1", n)
	}
}
