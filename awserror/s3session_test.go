package awserror

import (
	"strings"
	"testing"
)

// TestSafeMessageHidesS3SessionToken: a server that quotes the canonical
// request of an S3 Express request quotes its x-amz-s3session-token.
func TestSafeMessageHidesS3SessionToken(t *testing.T) {
	const token = "sessionTokenEXAMPLEVALUE"
	a := Answer{Message: "bad request; headers x-amz-s3session-token:" + token + "\nx-amz-date:20261207T120000Z"}
	if got := a.SafeMessage(); strings.Contains(got, token) {
		t.Errorf("SafeMessage kept the session token: %q", got)
	}
}
