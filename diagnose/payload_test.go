package diagnose

import (
	"strings"
	"testing"
)

// A request for a service of the payload table that requires
// X-Amz-Content-Sha256 (S3, OpenSearch Serverless, VPC Lattice) is told it
// is missing, with the page that says so; one for a service outside the
// table is not.
func TestMissingContentSHA256FollowsThePayloadTable(t *testing.T) {
	for service, wantSource := range map[string]string{
		"s3":               "https://docs.aws.amazon.com/AmazonS3/",
		"aoss":             "https://docs.aws.amazon.com/opensearch-service/",
		"vpc-lattice-svcs": "https://docs.aws.amazon.com/vpc-lattice/",
		"execute-api":      "",
	} {
		req := vanillaRequest(t, strings.Replace(vanillaAuthz, "/service/", "/"+service+"/", 1))
		var found *Problem
		ps := Request(req, Options{})
		for i, p := range ps {
			if p.Code == CodeMissingContentSHA256 {
				found = &ps[i]
			}
		}
		switch {
		case wantSource == "" && found != nil:
			t.Errorf("%s: %v, but the service does not require the header", service, *found)
		case wantSource != "" && found == nil:
			t.Errorf("%s: problems %v, want %s", service, codes(ps), CodeMissingContentSHA256)
		case wantSource != "" && !strings.Contains(found.Message, wantSource):
			t.Errorf("%s: %q does not name %s", service, found.Message, wantSource)
		}
	}
}
