package endpoint

import "strings"

// Express is what the name of an S3 Express One Zone endpoint says. Both
// kinds sign as s3express
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-Regions-and-Zones.html):
//
//   - the Zonal endpoint of a directory bucket,
//     BUCKET--ZONE--x-s3.s3express-ZONE.REGION.amazonaws.com, serves the
//     object-level operations, most of them authorized by a session that
//     CreateSession makes for the bucket;
//   - the Regional endpoint, s3express-control.REGION.amazonaws.com, serves
//     the bucket-level ones (CreateBucket, DeleteBucket, bucket policy, ...),
//     which are signed with the caller's own credentials.
type Express struct {
	// Bucket is the directory bucket a Zonal endpoint host names
	// ("bucket-base-name--usw2-az1--x-s3"); empty for the Regional
	// endpoint, and for a Zonal endpoint named without a bucket, which
	// directory buckets do not serve (path-style requests are not
	// supported on Zonal endpoints).
	Bucket string
	// Zone is the Availability Zone or Local Zone id of a Zonal endpoint
	// ("usw2-az1", "usw2-lax1-az1"); empty for the Regional endpoint.
	Zone string
	// Region is the signing region.
	Region string
	// Control is set for the Regional endpoint (s3express-control).
	Control bool
}

// expressSuffix ends every directory bucket name: BASE--ZONE--x-s3
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/directory-bucket-naming-rules.html).
const expressSuffix = "--x-s3"

// ExpressHost reports whether host is an S3 Express One Zone endpoint and
// what its name says. host is matched as Resolve matches it (case, a :port
// and a trailing dot ignored). A Zonal endpoint's bucket label that is not
// a directory bucket name of the endpoint's own zone gives no Bucket: AWS
// would not serve it, and the proxy then signs it as it signs any other
// s3express request, with its own credentials. Safe for concurrent use.
func ExpressHost(host string) (Express, bool) {
	ep, err := Resolve(host)
	if err != nil || ep.SigningName != "s3express" {
		return Express{}, false
	}
	h, _ := normalizeHost(host) // Resolve has accepted it
	labels := strings.Split(h, ".")
	// [bucket.]s3express-<zone|control>[.dualstack].<region>.<suffix>: the
	// endpoint label is the one before the region (rightmost, as in
	// resolveByRule) and dualstack, the bucket the one before that.
	i := len(labels) - 1
	for i >= 0 && labels[i] != ep.Region {
		i--
	}
	i--
	if i >= 0 && labels[i] == "dualstack" {
		i--
	}
	e := Express{Region: ep.Region}
	if i < 0 {
		return e, true
	}
	kind, _ := expressLabel(labels[i])
	switch {
	case kind == "control":
		e.Control = true
	case kind != "":
		e.Zone = kind
		if i == 1 && directoryBucketOf(labels[0], e.Zone) {
			e.Bucket = labels[0]
		}
	}
	return e, true
}

// expressLabel reads an s3express endpoint label: "control" for the
// Regional endpoint (s3express-control, with -fips or -dualstack), the zone
// id for a Zonal one (s3express-usw2-az1, s3express-fips-usw2-az1), ""
// otherwise; fips says whether it is a FIPS endpoint.
func expressLabel(label string) (kind string, fips bool) {
	rest, ok := strings.CutPrefix(label, "s3express-")
	if !ok {
		return "", false
	}
	if r, ok := strings.CutPrefix(rest, "fips-"); ok {
		rest, fips = r, true
	}
	if r, ok := strings.CutSuffix(rest, "-fips"); ok {
		rest, fips = r, true
	}
	if rest == "control" || strings.HasPrefix(rest, "control-") {
		return "control", fips
	}
	return rest, fips
}

// directoryBucketOf reports whether bucket is the name of a directory
// bucket in zone: BASE--ZONE--x-s3 with a non-empty base.
func directoryBucketOf(bucket, zone string) bool {
	rest, ok := strings.CutSuffix(bucket, expressSuffix)
	if !ok {
		return false
	}
	base, ok := strings.CutSuffix(rest, "--"+zone)
	return ok && base != ""
}

// expressRule answers for an s3express endpoint label (the label after
// any bucket, before any dualstack): rule s3express-zonal for a Zonal
// endpoint, s3express-control for the Regional one, with +fips for their
// FIPS names.
func expressRule(label string) Endpoint {
	kind, fips := expressLabel(label)
	rule := "s3express"
	switch kind {
	case "":
	case "control":
		rule += "-control"
	default:
		rule += "-zonal"
	}
	if fips {
		rule += "+fips"
	}
	return Endpoint{SigningName: "s3express", Rule: rule}
}
