package endpoint

import (
	"strings"
	"testing"
)

// TestHostFor: the host a scope's requests go to when their own Host names
// no AWS endpoint, and what is refused when the scope does not say.
func TestHostFor(t *testing.T) {
	for _, tc := range []struct{ name, region, want string }{
		{"s3", "us-east-1", "s3.us-east-1.amazonaws.com"},
		{"s3", "eu-west-1", "s3.eu-west-1.amazonaws.com"},
		{"s3", "cn-north-1", "s3.cn-north-1.amazonaws.com.cn"},
		{"sts", "us-east-1", "sts.us-east-1.amazonaws.com"},
		{"dynamodb", "us-east-1", "dynamodb.us-east-1.amazonaws.com"},
		{"sqs", "ap-southeast-2", "sqs.ap-southeast-2.amazonaws.com"},
		{"iam", "us-east-1", "iam.amazonaws.com"},
		{"ses", "us-east-1", "email.us-east-1.amazonaws.com"},
		{"kms", "us-gov-west-1", "kms.us-gov-west-1.amazonaws.com"},
	} {
		got, err := HostFor(tc.name, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("HostFor(%s, %s) = %q, %v; want %s", tc.name, tc.region, got, err, tc.want)
			continue
		}
		// The host found signs as the scope it was found for.
		if e, err := Resolve(got); err != nil || e.SigningName != tc.name || e.Region != tc.region {
			t.Errorf("Resolve(%s) = %+v, %v; want %s %s", got, e, err, tc.name, tc.region)
		}
	}
	for _, tc := range []struct{ name, region, want string }{
		{"bedrock", "us-east-1", "several endpoints (bedrock-runtime.us-east-1.amazonaws.com, bedrock.us-east-1.amazonaws.com)"},
		{"execute-api", "us-east-1", "a host per API"},
		{"s3", "xx-nowhere-1", `region "xx-nowhere-1" is in no AWS partition`},
		{"no-such-service", "us-east-1", `no host for service "no-such-service"`},
	} {
		got, err := HostFor(tc.name, tc.region)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("HostFor(%s, %s) = %q, %v; want an error containing %q", tc.name, tc.region, got, err, tc.want)
		}
	}
}
