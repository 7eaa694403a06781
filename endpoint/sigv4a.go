package endpoint

import "strings"

// RegionSetAll is the X-Amz-Region-Set of a SigV4a signature valid in every
// region: what the AWS SDKs' endpoint rule sets give (signingRegionSet
// ["*"]) for each host sigV4aRule matches.
const RegionSetAll = "*"

// sigV4aRule matches, from the labels left of the DNS suffix s, the hosts
// whose requests must be signed with SigV4a (AWS4-ECDSA-P256-SHA256). Each
// form is the one the service's endpoint rule set (botocore
// data/<service>/*/endpoint-rule-set-1.json) builds with the auth scheme
// "sigv4a" and signingRegionSet ["*"]. Region stays empty: these hosts name
// no region, and a SigV4a scope has none. It runs before the region scan,
// so that a resource label shaped like a region cannot turn one of these
// hosts into a SigV4 one.
func sigV4aRule(labels []string, s dnsSuffix) (Endpoint, bool) {
	n := len(labels)
	switch {
	case n >= 4 && labels[n-3] == "mrap" && labels[n-2] == "accesspoint" && labels[n-1] == "s3-global":
		// S3 Multi-Region Access Points: <alias>.accesspoint.s3-global.<dnsSuffix>,
		// the alias being <id>.mrap, signed as s3 for every region. S3's rule
		// set: "https://{accessPointName}.accesspoint.s3-global.{mrapPartition#dnsSuffix}",
		// no dual-stack, FIPS or accelerate form.
		// https://docs.aws.amazon.com/AmazonS3/latest/userguide/MultiRegionAccessPointRequests.html
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (SigV4a)
		if p := partitionOfSuffix(s, false); p != nil {
			return Endpoint{SigningName: "s3", Partition: p.id, RegionSet: RegionSetAll, Rule: "s3-mrap"}, true
		}
	case n >= 3 && labels[n-2] == "endpoint" && labels[n-1] == "events":
		// EventBridge global endpoints: <endpoint-id>.endpoint.events.<dnsSuffix>,
		// or the partition's dual-stack suffix; the id may have dots
		// (abcde.veo). Signed as events for every region. EventBridge's
		// rule set: "https://{EndpointId}.endpoint.events.{PartitionResult#dnsSuffix}".
		// https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html (EndpointId)
		// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-global-endpoints.html
		if p := partitionOfSuffix(s, false); p != nil {
			return Endpoint{SigningName: "events", Partition: p.id, RegionSet: RegionSetAll, Rule: "events-global-endpoint"}, true
		}
		if p := partitionOfSuffix(s, true); p != nil {
			return Endpoint{SigningName: "events", Partition: p.id, RegionSet: RegionSetAll, Rule: "events-global-endpoint+dualstack"}, true
		}
	case n == 3 && labels[1] == "cloudfront-kvs" && labels[2] == "global" && s.suffix == "api.aws":
		// CloudFront KeyValueStore: <account-id>.cloudfront-kvs.global.api.aws,
		// in the aws partition only, signed as cloudfront-keyvaluestore for
		// every region. Its rule set:
		// "https://{parsedArn#accountId}.cloudfront-kvs.global.api.aws".
		// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/kvs-with-functions-kvp.html
		// ("a global service that uses Signature Version 4A (SigV4A)")
		return Endpoint{SigningName: "cloudfront-keyvaluestore", Partition: "aws", RegionSet: RegionSetAll, Rule: "cloudfront-kvs"}, true
	}
	return Endpoint{}, false
}

// partitionOfSuffix returns the first partition, in partitions.json order,
// among those serving s whose DNS suffix (or, with dualStack, dual-stack
// suffix) s is; nil when none.
func partitionOfSuffix(s dnsSuffix, dualStack bool) *compiledPartition {
	for _, p := range s.partitions {
		if !dualStack && p.dnsSuffix == s.suffix || dualStack && p.dualStackDNSSuffix == s.suffix {
			return p
		}
	}
	return nil
}

// Signing is what a request to one host is signed with: the credential
// scope's service and region and, for SigV4a, the region set.
type Signing struct {
	// Service and Region are the signing name and region. Region may be
	// empty when RegionSet is not: a SigV4a scope has no region.
	Service, Region string
	// RegionSet, when not empty, selects SigV4a (AWS4-ECDSA-P256-SHA256)
	// valid in these regions, sent and signed as X-Amz-Region-Set; nil
	// signs SigV4 for Region.
	RegionSet []string
}

// SigningFor is ScopeFor that also says how to sign: SigV4a for regionSet
// when it is not empty (--region-set: every request, whatever the host),
// else SigV4a for the region set of a host that demands it (Resolve's
// Endpoint.RegionSet: S3 Multi-Region Access Points, CloudFront
// KeyValueStore, EventBridge global endpoints), else SigV4. The service
// and region overrides replace Resolve's halves as in ScopeFor; both set,
// the table is not consulted and the host's own region set is not either.
// With a region set, no region is needed. The error is a *ScopeError. It is
// the one lookup the proxy makes per request in host mode and once at start
// in fixed mode, and the one the commands that sign as the proxy does
// (explain, check, presign) call. Safe for concurrent use; regionSet is not
// copied.
func SigningFor(host, service, region string, regionSet []string) (Signing, error) {
	if len(regionSet) > 0 {
		s := Signing{Service: service, Region: region, RegionSet: regionSet}
		if service != "" {
			return s, nil
		}
		ep, err := Resolve(host)
		if err != nil {
			return Signing{}, &ScopeError{Host: host, MissingService: true, Err: err}
		}
		s.Service = ep.SigningName
		if s.Region == "" {
			s.Region = ep.Region
		}
		return s, nil
	}
	if service != "" && region != "" {
		return Signing{Service: service, Region: region}, nil
	}
	ep, err := Resolve(host)
	if err != nil {
		return Signing{}, &ScopeError{Host: host, MissingService: service == "", MissingRegion: region == "", Err: err}
	}
	s := Signing{Service: service, Region: region}
	if s.Service == "" {
		s.Service = ep.SigningName
	}
	if s.Region == "" {
		s.Region = ep.Region
	}
	if ep.RegionSet != "" {
		s.RegionSet = strings.Split(ep.RegionSet, ",")
	}
	return s, nil
}
