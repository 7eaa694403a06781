package endpoint

import (
	"strings"
)

// resolveByRule answers for a normalized host the generated table does not
// list. Every rule looks at the labels left of a partition DNS suffix; the
// signing region is always a label of the host itself (or us-east-1 for the
// legacy global S3 names), never a guess.
func resolveByRule(h string) (Endpoint, bool) {
	for _, s := range suffixes() {
		if len(h) <= len(s.suffix)+1 || !strings.HasSuffix(h, "."+s.suffix) {
			continue
		}
		labels := strings.Split(h[:len(h)-len(s.suffix)-1], ".")
		if e, ok := sigV4aRule(labels, s); ok {
			return e, true
		}
		// The rightmost label that is a region of a partition serving this
		// suffix splits the host into what comes before it (service and
		// resource labels) and after it (es, aoss, vpce). Rightmost, because
		// a bucket may be named like a region.
		for i := len(labels) - 1; i >= 0; i-- {
			p := regionPartition(labels[i], s.partitions)
			if p == nil {
				continue
			}
			if e, ok := regionalRule(labels[:i], labels[i+1:], s.suffix); ok {
				e.Region, e.Partition = labels[i], p.id
				return e, true
			}
			break
		}
		return regionlessRule(labels, s)
	}
	return Endpoint{}, false
}

// regionPartition returns the first partition, in partitions.json order, that
// lists region or whose regionRegex matches it, among those serving the
// suffix; nil when none does.
func regionPartition(region string, serving []*compiledPartition) *compiledPartition {
	for _, p := range serving {
		if p.regionSet[region] {
			return p
		}
	}
	for _, p := range serving {
		if p.regionRE.MatchString(region) {
			return p
		}
	}
	return nil
}

// regionalRule matches <before>.<region>.<after>.<suffix>. The caller fills in
// Region and Partition.
func regionalRule(before, after []string, suffix string) (Endpoint, bool) {
	if len(before) == 0 {
		return Endpoint{}, false
	}
	switch {
	case len(after) == 1 && after[0] == "vpce":
		// vpce-0a1b-c2d3.sqs.us-east-1.vpce.amazonaws.com,
		// bucket.vpce-0a1b-c2d3.s3.us-east-1.vpce.amazonaws.com
		// (https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html).
		return vpceRule(before)
	case len(after) == 1 && after[0] == "es":
		// search-<domain>-<id>.<region>.es.amazonaws.com and vpc-<domain>-<id>...
		return Endpoint{SigningName: "es", Rule: "es-domain"}, true
	case len(after) == 1 && after[0] == "aoss":
		// <collection-id>.<region>.aoss.amazonaws.com
		return Endpoint{SigningName: "aoss", Rule: "aoss-collection"}, true
	case len(after) == 1 && after[0] == "cloudsearch":
		// search-<domain>-<id>.<region>.cloudsearch.amazonaws.com and doc-...:
		// the cloudsearchdomain API, which signs as cloudsearch.
		return Endpoint{SigningName: "cloudsearch", Rule: "cloudsearch-domain"}, true
	case len(after) == 1 && after[0] == "neptune":
		// <cluster>.cluster-<id>.<region>.neptune.amazonaws.com: Neptune IAM
		// authentication signs as neptune-db
		// (https://docs.aws.amazon.com/neptune/latest/userguide/iam-auth-connecting-sigv4.html).
		return Endpoint{SigningName: "neptune-db", Rule: "neptune-db"}, true
	case len(after) != 0:
		return Endpoint{}, false
	}

	dualstack := false
	if before[len(before)-1] == "dualstack" {
		dualstack = true
		before = before[:len(before)-1]
		if len(before) == 0 {
			return Endpoint{}, false
		}
	}
	service, resource := before[len(before)-1], before[:len(before)-1]
	e, ok := regionalServiceRule(service, resource, suffix)
	if !ok {
		return Endpoint{}, false
	}
	if dualstack {
		e.Rule += "+dualstack"
	}
	return e, true
}

// regionalServiceRule matches [<resource>.]<service>[.dualstack].<region>.<suffix>.
func regionalServiceRule(service string, resource []string, suffix string) (Endpoint, bool) {
	hasResource := len(resource) > 0
	fips := ""
	if base, ok := strings.CutSuffix(service, "-fips"); ok {
		service, fips = base, "+fips"
	}
	if service == "" {
		return Endpoint{}, false
	}
	switch {
	case service == "s3":
		if hasResource {
			return Endpoint{SigningName: "s3", Rule: "s3-virtual-hosted" + fips}, true
		}
		return Endpoint{SigningName: "s3", Rule: "s3-path-style" + fips}, true
	case service == "s3-website":
		return Endpoint{SigningName: "s3", Rule: "s3-website"}, true
	case service == "s3-accesspoint" && hasResource:
		// <name>-<account>.s3-accesspoint[-fips][.dualstack].<region>.amazonaws.com
		return Endpoint{SigningName: "s3", Rule: "s3-accesspoint" + fips}, true
	case service == "s3-object-lambda":
		// Object Lambda access points sign as s3-object-lambda
		// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/olap-use.html).
		return Endpoint{SigningName: "s3-object-lambda", Rule: "s3-object-lambda" + fips}, true
	case service == "s3-outposts":
		// <name>-<account>.op-<outpost-id>.s3-outposts.<region>.amazonaws.com
		return Endpoint{SigningName: "s3-outposts", Rule: "s3-outposts" + fips}, true
	case service == "s3-control":
		// <account>.s3-control.<region>.amazonaws.com
		return Endpoint{SigningName: "s3", Rule: "s3-control" + fips}, true
	case service == "s3express" || strings.HasPrefix(service, "s3express-"):
		// <bucket>--<az-id>--x-s3.s3express-<az-id>.<region>.amazonaws.com and
		// s3express-control.<region>.amazonaws.com sign as s3express
		// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-networking.html;
		// express.go).
		if fips != "" {
			service += "-fips"
		}
		return expressRule(service), true
	case service == "execute-api" && hasResource:
		// <api-id>.execute-api.<region>.amazonaws.com; a private API's
		// <api-id>-<vpce-id>.execute-api.<region>.amazonaws.com
		// (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-private-api-test-invoke-url.html).
		if strings.Contains(resource[len(resource)-1], "-vpce-") {
			return Endpoint{SigningName: "execute-api", Rule: "execute-api-private"}, true
		}
		return Endpoint{SigningName: "execute-api", Rule: "execute-api"}, true
	case service == "lambda-url" && hasResource && suffix == onAWS:
		// <url-id>.lambda-url.<region>.on.aws
		return Endpoint{SigningName: "lambda", Rule: "lambda-url"}, true
	case service == "aos" && hasResource && suffix == onAWS:
		// OpenSearch dual-stack domains: search-<domain>-<id>.aos.<region>.on.aws
		return Endpoint{SigningName: "es", Rule: "es-domain+dualstack"}, true
	case service == "aps-workspaces":
		// Amazon Managed Service for Prometheus workspaces sign as aps
		// (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-onboard-ingest-metrics-remote-write.html).
		return Endpoint{SigningName: "aps", Rule: "aps-workspaces"}, true
	case service == "iot" && len(resource) == 1:
		// The device data endpoint <id>-ats.iot.<region>.amazonaws.com is
		// iot-data, which signs as iotdata.
		return Endpoint{SigningName: "iotdata", Rule: "iot-data"}, true
	case (service == "appsync-api" || service == "appsync-realtime-api") && hasResource:
		// <api-id>.appsync-api.<region>.amazonaws.com
		return Endpoint{SigningName: "appsync", Rule: "appsync-api"}, true
	}
	// Generic <prefix>.<region>.<dnsSuffix>: the longest known endpoint
	// prefix the host ends with (runtime.sagemaker, api.ecr, ...), else the
	// service label itself, which is how every new service is named.
	prefix := append(append([]string(nil), resource...), service)
	for i := range prefix {
		if name, ok := signingNames[strings.Join(prefix[i:], ".")]; ok {
			return Endpoint{SigningName: name, Rule: "generic" + fips}, true
		}
	}
	return Endpoint{SigningName: service, Rule: "generic" + fips}, true
}

// vpceRule matches the labels left of <region>.vpce.<suffix>: an optional
// bucket/accesspoint/control label, the vpce-<id> label, then the service's
// endpoint prefix.
func vpceRule(before []string) (Endpoint, bool) {
	for i, l := range before {
		if !strings.HasPrefix(l, "vpce-") {
			continue
		}
		svc := before[i+1:]
		if len(svc) == 0 {
			return Endpoint{}, false
		}
		for j := range svc {
			if name, ok := signingNames[strings.Join(svc[j:], ".")]; ok {
				return Endpoint{SigningName: name, Rule: "vpce"}, true
			}
		}
		return Endpoint{SigningName: svc[len(svc)-1], Rule: "vpce"}, true
	}
	return Endpoint{}, false
}

// regionlessRule matches hosts with no region label: the legacy S3 names.
// Other global endpoints (iam, sts, route53, cloudfront, ...) are all in the
// generated table.
func regionlessRule(labels []string, s dnsSuffix) (Endpoint, bool) {
	service, hasResource := labels[len(labels)-1], len(labels) > 1
	if s.suffix == "amazonaws.com" {
		switch service {
		case "s3":
			// <bucket>.s3.amazonaws.com: the legacy global endpoint, which
			// signs for us-east-1.
			if hasResource {
				return Endpoint{SigningName: "s3", Region: "us-east-1", Partition: "aws", Rule: "s3-virtual-hosted-global"}, true
			}
			return Endpoint{SigningName: "s3", Region: "us-east-1", Partition: "aws", Rule: "s3-path-style-global"}, true
		case "s3-external-1":
			return Endpoint{SigningName: "s3", Region: "us-east-1", Partition: "aws", Rule: "s3-external-1"}, true
		}
	}
	// Legacy dash-region names: s3-<region>, s3-fips-<region>,
	// s3-website-<region> (and <bucket>. in front of each)
	// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html#s3-legacy-endpoints).
	for _, legacy := range []struct{ prefix, rule string }{
		{"s3-fips-", "s3-legacy-dash-region+fips"},
		{"s3-website-", "s3-website"},
		{"s3-", "s3-legacy-dash-region"},
	} {
		region, ok := strings.CutPrefix(service, legacy.prefix)
		if !ok {
			continue
		}
		if p := regionPartition(region, s.partitions); p != nil {
			return Endpoint{SigningName: "s3", Region: region, Partition: p.id, Rule: legacy.rule}, true
		}
	}
	return Endpoint{}, false
}
