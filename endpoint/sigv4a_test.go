package endpoint

import (
	"errors"
	"slices"
	"testing"
)

// TestResolveSigV4aHosts: each host form whose endpoint rule set signs with
// sigv4a and signingRegionSet ["*"] resolves to its signing name with
// RegionSet "*" and no region; look-alikes do not.
func TestResolveSigV4aHosts(t *testing.T) {
	for _, c := range []struct {
		host string
		want Endpoint
	}{
		// S3 Multi-Region Access Points, in the partitions that serve them.
		{"mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com", Endpoint{SigningName: "s3", Partition: "aws", RegionSet: "*", Rule: "s3-mrap"}},
		{"MFZWI23GNJVGW.mrap.accesspoint.s3-global.amazonaws.com.:443", Endpoint{SigningName: "s3", Partition: "aws", RegionSet: "*", Rule: "s3-mrap"}},
		{"mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com.cn", Endpoint{SigningName: "s3", Partition: "aws-cn", RegionSet: "*", Rule: "s3-mrap"}},
		// A bucket-like label shaped as a region does not make it regional.
		{"us-east-1.mrap.accesspoint.s3-global.amazonaws.com", Endpoint{SigningName: "s3", Partition: "aws", RegionSet: "*", Rule: "s3-mrap"}},
		// EventBridge global endpoints; the endpoint id may have dots.
		{"abcde.veo.endpoint.events.amazonaws.com", Endpoint{SigningName: "events", Partition: "aws", RegionSet: "*", Rule: "events-global-endpoint"}},
		{"myendpoint.endpoint.events.amazonaws.com", Endpoint{SigningName: "events", Partition: "aws", RegionSet: "*", Rule: "events-global-endpoint"}},
		{"myendpoint.endpoint.events.api.aws", Endpoint{SigningName: "events", Partition: "aws", RegionSet: "*", Rule: "events-global-endpoint+dualstack"}},
		{"myendpoint.endpoint.events.amazonaws.com.cn", Endpoint{SigningName: "events", Partition: "aws-cn", RegionSet: "*", Rule: "events-global-endpoint"}},
		// CloudFront KeyValueStore: the account id, in the aws partition.
		{"123456789012.cloudfront-kvs.global.api.aws", Endpoint{SigningName: "cloudfront-keyvaluestore", Partition: "aws", RegionSet: "*", Rule: "cloudfront-kvs"}},
	} {
		got, err := Resolve(c.host)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) = %+v, %v; want %+v", c.host, got, err, c.want)
		}
	}

	// Forms that are not these endpoints: the regional ones keep SigV4,
	// the incomplete ones are unknown.
	for _, c := range []struct{ host, service, region string }{
		{"events.us-east-1.amazonaws.com", "events", "us-east-1"},
		{"bucket.s3.us-east-1.amazonaws.com", "s3", "us-east-1"},
		{"ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com", "s3", "us-east-1"},
		{"cloudfront.amazonaws.com", "cloudfront", "us-east-1"},
	} {
		got, err := Resolve(c.host)
		if err != nil || got.RegionSet != "" || got.SigningName != c.service || got.Region != c.region {
			t.Errorf("Resolve(%q) = %+v, %v; want SigV4 %s in %s", c.host, got, err, c.service, c.region)
		}
	}
	for _, host := range []string{
		"mrap.accesspoint.s3-global.amazonaws.com",                        // no alias before .mrap
		"x.accesspoint.s3-global.amazonaws.com",                           // not an MRAP alias
		"x.mrap.accesspoint.s3-global.api.aws",                            // MRAP has no dual-stack form
		"endpoint.events.amazonaws.com",                                   // no endpoint id
		"x.endpoint.events.on.aws",                                        // not a partition suffix of it
		"123456789012.cloudfront-kvs.global.amazonaws.com",                // KVS is under api.aws only
		"a.123456789012.cloudfront-kvs.global.api.aws",                    // one account label
		"123456789012.cloudfront-kvs.global.api.amazonwebservices.com.cn", // aws partition only
	} {
		if got, err := Resolve(host); !errors.As(err, new(*UnknownHostError)) {
			t.Errorf("Resolve(%q) = %+v, %v; want an *UnknownHostError", host, got, err)
		}
	}
}

// TestSigningFor: the region set comes from --region-set, else from the
// host; the service and region overrides fill their halves as in ScopeFor.
func TestSigningFor(t *testing.T) {
	const mrap = "mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com"
	for _, c := range []struct {
		name                  string
		host, service, region string
		regionSet             []string
		want                  Signing
	}{
		{"SigV4 host", "sqs.eu-west-1.amazonaws.com", "", "", nil, Signing{Service: "sqs", Region: "eu-west-1"}},
		{"SigV4a host", mrap, "", "", nil, Signing{Service: "s3", RegionSet: []string{"*"}}},
		{"SigV4a host, --region kept but not a scope", mrap, "", "us-east-1", nil, Signing{Service: "s3", Region: "us-east-1", RegionSet: []string{"*"}}},
		{"--region-set on a SigV4 host", "sqs.eu-west-1.amazonaws.com", "", "", []string{"eu-*", "us-east-1"}, Signing{Service: "sqs", Region: "eu-west-1", RegionSet: []string{"eu-*", "us-east-1"}}},
		{"--region-set wins over the host's", mrap, "", "", []string{"us-east-1", "us-west-2"}, Signing{Service: "s3", RegionSet: []string{"us-east-1", "us-west-2"}}},
		{"--region-set and --service need no table", "api.example.com", "execute-api", "", []string{"*"}, Signing{Service: "execute-api", RegionSet: []string{"*"}}},
		{"--service and --region: the table is not consulted", mrap, "s3", "us-east-1", nil, Signing{Service: "s3", Region: "us-east-1"}},
		{"--service on a SigV4a host", "abc.endpoint.events.amazonaws.com", "events2", "", nil, Signing{Service: "events2", RegionSet: []string{"*"}}},
	} {
		got, err := SigningFor(c.host, c.service, c.region, c.regionSet)
		if err != nil || got.Service != c.want.Service || got.Region != c.want.Region || !slices.Equal(got.RegionSet, c.want.RegionSet) {
			t.Errorf("%s: SigningFor(%q, %q, %q, %q) = %+v, %v; want %+v", c.name, c.host, c.service, c.region, c.regionSet, got, err, c.want)
		}
	}

	// Unknown hosts: the error names exactly the override that is missing;
	// a region set makes --region unnecessary.
	for _, c := range []struct {
		service, region string
		regionSet       []string
		want            string
	}{
		{"", "", nil, "set --service and --region"},
		{"", "", []string{"*"}, "set --service"},
		{"execute-api", "", nil, "set --region"},
	} {
		_, err := SigningFor("api.example.com", c.service, c.region, c.regionSet)
		var se *ScopeError
		if !errors.As(err, &se) || !errors.As(err, new(*UnknownHostError)) {
			t.Fatalf("SigningFor(unknown, %q, %q, %q) = %v; want a *ScopeError wrapping an *UnknownHostError", c.service, c.region, c.regionSet, err)
		}
		if msg := err.Error(); msg[len(msg)-len(c.want):] != c.want {
			t.Errorf("SigningFor(unknown, %q, %q, %q): %q does not end with %q", c.service, c.region, c.regionSet, msg, c.want)
		}
	}

	// ScopeFor is SigningFor without a region set.
	if svc, region, err := ScopeFor(mrap, "", ""); err != nil || svc != "s3" || region != "" {
		t.Errorf("ScopeFor(%q) = %q, %q, %v; want s3 and no region", mrap, svc, region, err)
	}
}
