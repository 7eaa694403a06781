package main

import (
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// explain prints the payload table row it signed with (or that none
// applied), and signs X-Amz-Content-Sha256 as the row says, as the proxy
// does: before the table, explain of an aoss POST signed
// content-length;host;x-amz-date only.
func TestExplainPrintsThePayloadRule(t *testing.T) {
	helloHash := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // SHA-256 of "hello"
	for _, tc := range []struct {
		name   string
		args   []string
		rule   string // what the Payload row line says
		signed string // the signed headers
		hash   string // the canonical request's last line
	}{
		{"aoss", []string{"https://abc123.us-east-1.aoss.amazonaws.com/idx/_search"},
			"aoss: X-Amz-Content-Sha256 required, body hash accepted, UNSIGNED-PAYLOAD not accepted, aws-chunked not accepted (https://docs.aws.amazon.com/opensearch-service/",
			"content-length;host;x-amz-content-sha256;x-amz-date", helloHash},
		{"vpc lattice", []string{"https://svc-0123.abc.vpc-lattice-svcs.us-east-1.on.aws/orders"},
			"vpc-lattice-svcs: X-Amz-Content-Sha256 required, body hash not accepted, UNSIGNED-PAYLOAD accepted, aws-chunked not accepted (https://docs.aws.amazon.com/vpc-lattice/",
			"content-length;host;x-amz-content-sha256;x-amz-date", signer.UnsignedPayload},
		{"s3", []string{"-X", "PUT", "https://my-bucket.s3.us-west-2.amazonaws.com/key.txt"},
			"s3: X-Amz-Content-Sha256 required, body hash accepted, UNSIGNED-PAYLOAD accepted, aws-chunked accepted (https://docs.aws.amazon.com/AmazonS3/",
			"content-length;host;x-amz-content-sha256;x-amz-date", signer.UnsignedPayload},
		{"no row", []string{"https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/orders"},
			"none for execute-api in the payload table",
			"content-length;host;x-amz-date", helloHash},
		{"no row, --content-sha256 always", []string{"--content-sha256", "always", "https://abcdefghij.lambda-url.us-east-1.on.aws/orders"},
			"none for lambda in the payload table",
			"content-length;host;x-amz-content-sha256;x-amz-date", helloHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runExplainArgs(t, append([]string{"--example-credentials", "--date", "20150830T123600Z", "-d", "hello"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "\nPayload row: "+tc.rule) {
				t.Errorf("no Payload row line starting %q:\n%s", tc.rule, out)
			}
			s := sections(out)
			if s["Signed headers"] != tc.signed {
				t.Errorf("signed headers %q, want %q", s["Signed headers"], tc.signed)
			}
			cr := s["Canonical request"]
			if got := cr[strings.LastIndex(cr, "\n")+1:]; got != tc.hash {
				t.Errorf("payload hash %q, want %q", got, tc.hash)
			}
		})
	}
	out, err := runExplainArgs(t, "--example-credentials", "--date", "20150830T123600Z", "https://svc-0123.abc.vpc-lattice-svcs.us-east-1.on.aws/orders")
	if err != nil {
		t.Fatal(err)
	}
	if cr := sections(out)["Canonical request"]; !strings.HasSuffix(cr, "\n"+signer.UnsignedPayload) {
		t.Errorf("a vpc-lattice-svcs GET is not signed UNSIGNED-PAYLOAD:\n%s", out)
	}
	if _, err := runExplainArgs(t, "--example-credentials", "--content-sha256", "never", "https://sqs.us-east-1.amazonaws.com/"); err == nil || !strings.Contains(err.Error(), `invalid --content-sha256 "never"`) {
		t.Errorf("--content-sha256 never: %v", err)
	}
}

// explain --preserve-authorization-as signs the copy of the client's
// Authorization as the proxy does, and prints it hidden; a name the proxy
// would refuse at start is refused.
func TestExplainPreservesAuthorization(t *testing.T) {
	const basic = "Basic   c2lkZWNhci11c2VyOnMzY3IzdA=="
	out, err := runExplainArgs(t, "--example-credentials", "--date", "20150830T123600Z", "-H", "Authorization: "+basic,
		"--preserve-authorization-as", "x-original-authorization", "https://search-movies-abc123.us-east-1.es.amazonaws.com/movies/_search")
	if err != nil {
		t.Fatal(err)
	}
	s := sections(out)
	if s["Signed headers"] != "host;x-amz-date;x-original-authorization" {
		t.Errorf("signed headers %q, want the preserved header among them", s["Signed headers"])
	}
	if !strings.Contains(s["Canonical request"], "x-original-authorization:<preserved Authorization>") ||
		!strings.Contains(s["Headers sent"], "X-Original-Authorization: <preserved Authorization>") {
		t.Errorf("the preserved header is not shown hidden:\n%s", out)
	}
	if strings.Contains(out, "c2lkZWNhci11c2VyOnMzY3IzdA") {
		t.Errorf("the preserved Authorization is printed:\n%s", out)
	}
	_, err = runExplainArgs(t, "--example-credentials", "-H", "Authorization: "+basic, "--preserve-authorization-as", "X-Amz-Auth", "https://sqs.us-east-1.amazonaws.com/")
	if err == nil || !strings.Contains(err.Error(), `invalid --preserve-authorization-as "X-Amz-Auth"`) {
		t.Errorf("--preserve-authorization-as X-Amz-Auth: %v", err)
	}
}
