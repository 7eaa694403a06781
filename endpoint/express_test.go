package endpoint

import "testing"

// TestExpressHost reads S3 Express One Zone host names as the S3 user
// guide spells them (Regional and Zonal endpoints, directory bucket naming
// rules), and checks that Resolve names the rule that matched.
func TestExpressHost(t *testing.T) {
	cases := []struct {
		host string
		want Express
		ok   bool
		rule string
	}{
		{"mybucket--usw2-az1--x-s3.s3express-usw2-az1.us-west-2.amazonaws.com",
			Express{Bucket: "mybucket--usw2-az1--x-s3", Zone: "usw2-az1", Region: "us-west-2"}, true, "s3express-zonal"},
		// Case, a port and a trailing dot are ignored, as by Resolve.
		{"MyBucket--USW2-AZ1--x-s3.S3Express-usw2-az1.us-west-2.amazonaws.com.:443",
			Express{Bucket: "mybucket--usw2-az1--x-s3", Zone: "usw2-az1", Region: "us-west-2"}, true, "s3express-zonal"},
		// A Local Zone's id has three parts.
		{"logs--usw2-lax1-az1--x-s3.s3express-usw2-lax1-az1.us-west-2.amazonaws.com",
			Express{Bucket: "logs--usw2-lax1-az1--x-s3", Zone: "usw2-lax1-az1", Region: "us-west-2"}, true, "s3express-zonal"},
		// A base name may itself hold "--".
		{"a--b--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com",
			Express{Bucket: "a--b--use1-az4--x-s3", Zone: "use1-az4", Region: "us-east-1"}, true, "s3express-zonal"},
		{"b--use1-az4--x-s3.s3express-fips-use1-az4.us-east-1.amazonaws.com",
			Express{Bucket: "b--use1-az4--x-s3", Zone: "use1-az4", Region: "us-east-1"}, true, "s3express-zonal+fips"},
		{"b--use1-az4--x-s3.s3express-use1-az4.dualstack.us-east-1.amazonaws.com",
			Express{Bucket: "b--use1-az4--x-s3", Zone: "use1-az4", Region: "us-east-1"}, true, "s3express-zonal+dualstack"},
		// A bucket of another zone, or not a directory bucket name: no
		// bucket, so no session; the host still signs as s3express.
		{"b--use1-az5--x-s3.s3express-use1-az4.us-east-1.amazonaws.com",
			Express{Zone: "use1-az4", Region: "us-east-1"}, true, "s3express-zonal"},
		{"plainbucket.s3express-use1-az4.us-east-1.amazonaws.com",
			Express{Zone: "use1-az4", Region: "us-east-1"}, true, "s3express-zonal"},
		{"x.b--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com",
			Express{Zone: "use1-az4", Region: "us-east-1"}, true, "s3express-zonal"},
		{"s3express-usw2-az1.us-west-2.amazonaws.com",
			Express{Zone: "usw2-az1", Region: "us-west-2"}, true, "s3express-zonal"},
		// The Regional endpoint: bucket-level operations, signed plainly.
		{"s3express-control.us-west-2.amazonaws.com",
			Express{Region: "us-west-2", Control: true}, true, "s3express-control"},
		{"s3express-control-fips.us-east-1.amazonaws.com",
			Express{Region: "us-east-1", Control: true}, true, "s3express-control+fips"},
		{"s3express-control.dualstack.us-east-1.amazonaws.com",
			Express{Region: "us-east-1", Control: true}, true, "s3express-control+dualstack"},
		// Not S3 Express: a directory bucket name on a general purpose
		// endpoint is an ordinary S3 bucket host.
		{"b--usw2-az1--x-s3.s3.us-west-2.amazonaws.com", Express{}, false, "s3-virtual-hosted"},
		{"bucket.s3.us-west-2.amazonaws.com", Express{}, false, "s3-virtual-hosted"},
		{"sqs.us-east-1.amazonaws.com", Express{}, false, "botocore:sqs/us-east-1"},
	}
	for _, c := range cases {
		got, ok := ExpressHost(c.host)
		if got != c.want || ok != c.ok {
			t.Errorf("ExpressHost(%q) = %+v, %v; want %+v, %v", c.host, got, ok, c.want, c.ok)
		}
		ep, err := Resolve(c.host)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.host, err)
			continue
		}
		if ep.Rule != c.rule {
			t.Errorf("Resolve(%q).Rule = %q, want %q", c.host, ep.Rule, c.rule)
		}
		if c.ok && (ep.SigningName != "s3express" || ep.Region != c.want.Region) {
			t.Errorf("Resolve(%q) = %s/%s, want s3express/%s", c.host, ep.SigningName, ep.Region, c.want.Region)
		}
	}
	for _, host := range []string{"", "127.0.0.1", "--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com"} {
		if got, ok := ExpressHost(host); ok {
			t.Errorf("ExpressHost(%q) = %+v, true; want false", host, got)
		}
	}
}
