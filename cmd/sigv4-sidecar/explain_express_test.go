package main

import (
	"strings"
	"testing"
)

// TestExplainSaysWhenAnS3ExpressSessionSigns: explain of a request on a
// directory bucket's Zonal endpoint says that the proxy signs it with the
// bucket's session; the calls signed with the credentials themselves
// (CreateBucket, the Regional endpoint) say nothing of one.
func TestExplainSaysWhenAnS3ExpressSessionSigns(t *testing.T) {
	const bucket = "media--usw2-az1--x-s3"
	zonal := "https://" + bucket + ".s3express-usw2-az1.us-west-2.amazonaws.com"
	for _, c := range []struct {
		args    []string
		session bool
	}{
		{[]string{zonal + "/photos/cat.jpg"}, true},
		{[]string{"-X", "PUT", "-d", "x", zonal + "/photos/cat.jpg"}, true},
		{[]string{"-X", "PUT", zonal + "/"}, false},
		{[]string{"-X", "PUT", "-H", "x-amz-copy-source: /" + bucket + "/a", zonal + "/b"}, false},
		{[]string{"-X", "PUT", "https://s3express-control.us-west-2.amazonaws.com/" + bucket}, false},
	} {
		out, err := runExplainArgs(t, append([]string{"--example-credentials"}, c.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if !strings.Contains(out, "Service:     s3express\n") {
			t.Errorf("%v: not signed as s3express:\n%s", c.args, out)
		}
		if got := strings.Contains(out, "Session:     S3 Express: the proxy signs this with a session of bucket "+bucket); got != c.session {
			t.Errorf("%v: session line %v, want %v:\n%s", c.args, got, c.session, out)
		}
	}
}
