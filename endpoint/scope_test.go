package endpoint

import (
	"errors"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// TestScopeForOverridesEachHalf: each override replaces its half of what
// the table says; both set, any host is signed as told; a host the table
// cannot place names the options still missing.
func TestScopeForOverridesEachHalf(t *testing.T) {
	for _, tc := range []struct {
		host, service, region   string
		wantService, wantRegion string
		wantErr                 string
	}{
		{"sqs.eu-west-1.amazonaws.com", "", "", "sqs", "eu-west-1", ""},
		{"sqs.eu-west-1.amazonaws.com", "execute-api", "", "execute-api", "eu-west-1", ""},
		{"sqs.eu-west-1.amazonaws.com", "", "us-east-1", "sqs", "us-east-1", ""},
		{"example.com", "s3", "us-east-1", "s3", "us-east-1", ""},
		{"example.com", "", "", "", "", `cannot derive the AWS service and region from host "example.com": set --service and --region`},
		{"example.com", "s3", "", "", "", `cannot derive the AWS service and region from host "example.com": set --region`},
		{"example.com", "", "us-east-1", "", "", `cannot derive the AWS service and region from host "example.com": set --service`},
	} {
		service, region, err := ScopeFor(tc.host, tc.service, tc.region)
		if tc.wantErr != "" {
			var scopeErr *ScopeError
			var unknown *UnknownHostError
			if !errors.As(err, &scopeErr) || !errors.As(err, &unknown) || err.Error() != tc.wantErr {
				t.Errorf("ScopeFor(%q, %q, %q) = %v, want a *ScopeError wrapping an *UnknownHostError: %s", tc.host, tc.service, tc.region, err, tc.wantErr)
			}
			continue
		}
		if err != nil || service != tc.wantService || region != tc.wantRegion {
			t.Errorf("ScopeFor(%q, %q, %q) = %q, %q, %v; want %q, %q", tc.host, tc.service, tc.region, service, region, err, tc.wantService, tc.wantRegion)
		}
	}
}

// TestEveryTableNameIsAScopeName: every signing name and region the table
// and the rules hand out (IoTSecuredTunneling, a2i-runtime.sagemaker's
// sagemaker, us-isob-east-1, ...) is one the signer signs with and the
// proxy takes as --service or --region: signer.IsScopeName is the one rule
// for both, and it must not refuse a name AWS uses.
func TestEveryTableNameIsAScopeName(t *testing.T) {
	names, regions := knownNames(), map[string]bool{}
	for region := range knownRegions() {
		regions[region] = true
	}
	for _, p := range partitions {
		regions[p.implicitGlobalRegion] = true
	}
	if len(names) == 0 || len(regions) == 0 {
		t.Fatalf("the table lists %d signing names and %d regions", len(names), len(regions))
	}
	for name := range names {
		if !signer.IsScopeName(name) {
			t.Errorf("signing name %q of the endpoint table is refused by signer.IsScopeName", name)
		}
	}
	for region := range regions {
		if !signer.IsScopeName(region) {
			t.Errorf("region %q of the endpoint table is refused by signer.IsScopeName", region)
		}
	}
}
