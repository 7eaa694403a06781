package diagnose

import (
	"strings"
	"testing"
)

// TestRedactCanonicalRequestHidesS3SessionToken: an S3 Express request
// carries its session token in x-amz-s3session-token, which is signed and
// so appears in the canonical request; the logged form must not show it.
func TestRedactCanonicalRequestHidesS3SessionToken(t *testing.T) {
	const token = "sessionTokenEXAMPLEVALUE"
	creq := "GET\n/key\n\nhost:b--usw2-az1--x-s3.s3express-usw2-az1.us-west-2.amazonaws.com\n" +
		"x-amz-date:20261207T120000Z\nx-amz-s3session-token:" + token + "\n\nhost;x-amz-date;x-amz-s3session-token\nUNSIGNED-PAYLOAD"
	got := RedactCanonicalRequest(creq)
	if strings.Contains(got, token) || !strings.Contains(got, "x-amz-s3session-token:<redacted ") {
		t.Errorf("RedactCanonicalRequest kept the session token:\n%s", got)
	}
	if d := redactHeaderValue("x-amz-s3session-token", token); strings.Contains(d, token) {
		t.Errorf("redactHeaderValue = %q", d)
	}
}
