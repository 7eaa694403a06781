package endpoint

import (
	"slices"
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// TestPayloadRuleResolution: for each row of the payload table, hosts of
// the service resolve to a signing name whose row is that one, with what
// the row's documentation says; hosts of services the table does not list
// get no row.
func TestPayloadRuleResolution(t *testing.T) {
	type want struct {
		row                                                   string
		contentSHA256, signedPayload, unsignedPayload, chunks bool
	}
	s3 := want{"s3", true, true, true, true}
	aoss := want{"aoss", true, true, false, false}
	lattice := want{"vpc-lattice-svcs", true, false, true, false}
	for host, w := range map[string]want{
		"my-bucket.s3.us-west-2.amazonaws.com":                                       s3,
		"s3.dualstack.eu-west-1.amazonaws.com":                                       s3,
		"name-123456789012.s3-object-lambda.us-east-1.amazonaws.com":                 s3,
		"name-123456789012.op-01ac5d28a6a232904.s3-outposts.us-west-2.amazonaws.com": s3,
		"bucket--usw2-az1--x-s3.s3express-usw2-az1.us-west-2.amazonaws.com":          s3,
		"abc123def456ghi789.us-east-1.aoss.amazonaws.com":                            aoss,
		"aoss.eu-west-1.amazonaws.com":                                               aoss,
		"data-svc-022f67d3a42.1234abc.vpc-lattice-svcs.us-west-2.on.aws":             lattice,
		"svc-0a1b2c3d4e5f67890.7d67968.vpc-lattice-svcs.us-gov-west-1.on.aws":        lattice,
		"search-movies-abc123.us-east-1.es.amazonaws.com":                            {},
		"a1b2c3d4e5.execute-api.us-east-1.amazonaws.com":                             {},
		"abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws":               {},
		"vpc-lattice.us-east-1.amazonaws.com":                                        {},
		"sqs.us-east-1.amazonaws.com":                                                {},
	} {
		ep, err := Resolve(host)
		if err != nil {
			t.Errorf("%s: %v", host, err)
			continue
		}
		r, ok := PayloadRuleFor(ep.SigningName)
		if ok != (w.row != "") {
			t.Errorf("%s (%s): row %q found %v, want row %q", host, ep.SigningName, r.Name, ok, w.row)
			continue
		}
		got := want{r.Name, r.ContentSHA256, r.SignedPayload, r.UnsignedPayload, r.AWSChunked}
		if got != w {
			t.Errorf("%s (%s): %+v, want %+v", host, ep.SigningName, got, w)
		}
	}
}

// Every row names its AWS documentation, no signing name is in two rows,
// a row accepts some payload hash, and the S3 row is exactly the signer's
// S3 family, whose behaviour it keeps.
func TestPayloadTableIsWellFormed(t *testing.T) {
	seen := map[string]string{}
	for _, r := range PayloadRules() {
		if !strings.HasPrefix(r.Source, "https://docs.aws.amazon.com/") {
			t.Errorf("row %s: source %q is not an AWS documentation page", r.Name, r.Source)
		}
		if !r.SignedPayload && !r.UnsignedPayload {
			t.Errorf("row %s accepts no payload hash", r.Name)
		}
		for _, n := range r.SigningNames {
			if other, dup := seen[n]; dup {
				t.Errorf("%s is in rows %s and %s", n, other, r.Name)
			}
			seen[n] = r.Name
			if !IsSigningName(n) {
				t.Errorf("row %s: %s is not a signing name the endpoint data knows", r.Name, n)
			}
			if signer.IsS3Family(n) != (r.Name == "s3") {
				t.Errorf("%s: in row %s, signer.IsS3Family says %v", n, r.Name, signer.IsS3Family(n))
			}
		}
	}
	for _, n := range []string{"s3", "s3-object-lambda", "s3-outposts", "s3express"} {
		if r, _ := PayloadRuleFor(n); r.Name != "s3" {
			t.Errorf("%s: row %q, want s3", n, r.Name)
		}
	}
	rows := PayloadRules()
	rows[0].SigningNames[0] = "changed"
	if r, ok := PayloadRuleFor("s3"); !ok || !slices.Contains(r.SigningNames, "s3") {
		t.Error("PayloadRules returned the table's own slices")
	}
}

// BenchmarkPayloadRuleFor is the lookup a signed request makes up to three
// times (mode, header, empty-body hash): a row near the end of the table
// and a name in none.
func BenchmarkPayloadRuleFor(b *testing.B) {
	for _, name := range []string{"vpc-lattice-svcs", "execute-api"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := PayloadRuleFor(name); ok != (name == "vpc-lattice-svcs") {
					b.Fatal(name)
				}
			}
		})
	}
}
