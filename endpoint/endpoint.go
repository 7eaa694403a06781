package endpoint

//go:generate go run gen.go

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Endpoint is what a request to one host must be signed with.
type Endpoint struct {
	// SigningName is the SigV4 service name in the credential scope, e.g.
	// "bedrock" for bedrock-runtime.us-east-1.amazonaws.com.
	SigningName string
	// Region is the signing region. Global endpoints carry their signing
	// region (iam.amazonaws.com -> us-east-1, iam.cn-north-1.amazonaws.com.cn
	// -> cn-north-1, iam.us-gov.amazonaws.com -> us-gov-west-1). Empty for
	// the SigV4a hosts (RegionSet), which name none.
	Region string
	// RegionSet, when not empty, is the X-Amz-Region-Set (comma-separated)
	// a request to the host must be signed for with SigV4a
	// (AWS4-ECDSA-P256-SHA256): "*" for S3 Multi-Region Access Points,
	// CloudFront KeyValueStore and EventBridge global endpoints (sigv4a.go).
	// Empty: SigV4.
	RegionSet string
	// Partition is the AWS partition the host belongs to: aws, aws-cn,
	// aws-us-gov, aws-iso, ...
	Partition string
	// Rule is the short name of the table entry ("botocore:<service>/<key>",
	// with "+fips" or "+dualstack" for a variant) or rule ("s3-virtual-hosted",
	// "vpce", "generic", ...) that matched, for explain and debug output. It is
	// not a stable API.
	Rule string
}

// UnknownHostError is returned by Resolve when no table entry or rule gives a
// signing name and region for Host.
type UnknownHostError struct {
	// Host is the host as given to Resolve.
	Host string
	// Reason says why, when the host is malformed; empty when the host is
	// well-formed but no rule knows it.
	Reason string
}

func (e *UnknownHostError) Error() string {
	why := "no endpoint rule matches it"
	if e.Reason != "" {
		why = e.Reason
	}
	return fmt.Sprintf("cannot derive the AWS service and region from host %q (%s): set --service and --region", e.Host, why)
}

// Resolve returns the signing name and region for host. host may carry a
// :port and a trailing dot and is matched case-insensitively. The answer
// depends only on host and the generated table, never on map order or the
// environment. Resolve is safe for concurrent use.
//
// The generated table of every host botocore's endpoints.json spells out is
// consulted first, then the rules for hosts it does not list (S3 buckets and
// access points, execute-api, VPC endpoints, ...), then the generic
// <prefix>.<region>.<dnsSuffix>. A host nothing matches gives a
// *UnknownHostError.
func Resolve(host string) (Endpoint, error) {
	h, err := normalizeHost(host)
	if err != nil {
		return Endpoint{}, &UnknownHostError{Host: host, Reason: err.Error()}
	}
	if e, ok := hosts()[h]; ok {
		return e, nil
	}
	if e, ok := resolveByRule(h); ok {
		return e, nil
	}
	return Endpoint{}, &UnknownHostError{Host: host}
}

// DefaultAllowHosts returns glob patterns for every AWS partition's DNS
// suffixes from partitions.json ("*.amazonaws.com", "*.api.aws", ...) plus
// "*.on.aws" (Lambda function URLs), sorted and without duplicates. Each call
// returns a new slice.
func DefaultAllowHosts() []string {
	var out []string
	for _, s := range suffixes() {
		out = append(out, "*."+s.suffix)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// partition is one entry of partitions.json; table_gen.go lists them.
type partition struct {
	id                   string
	dnsSuffix            string
	dualStackDNSSuffix   string
	implicitGlobalRegion string
	regionRegex          string
	regions              []string
}

// onAWS is the suffix of Lambda function URLs and OpenSearch dual-stack domain
// endpoints. partitions.json does not list it; only the commercial and
// GovCloud partitions serve it
// (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html).
const onAWS = "on.aws"

var onAWSPartitions = []string{"aws", "aws-us-gov"}

// hosts parses hostTable once into a map from host to Endpoint.
var hosts = sync.OnceValue(func() map[string]Endpoint {
	m := make(map[string]Endpoint, strings.Count(hostTable, "\n"))
	for line := range strings.Lines(hostTable) {
		f := strings.Fields(line)
		if len(f) != 5 {
			continue
		}
		m[f[0]] = Endpoint{SigningName: f[1], Region: f[2], Partition: f[3], Rule: f[4]}
	}
	return m
})

// dnsSuffix is one DNS suffix and, in partitions.json order, the partitions
// that serve hosts under it (amazonaws.com: aws and aws-us-gov).
type dnsSuffix struct {
	suffix     string
	partitions []*compiledPartition
}

type compiledPartition struct {
	partition
	regionSet map[string]bool
	regionRE  *regexp.Regexp
}

var compiled = sync.OnceValue(func() []*compiledPartition {
	out := make([]*compiledPartition, 0, len(partitions))
	for _, p := range partitions {
		cp := &compiledPartition{partition: p, regionSet: map[string]bool{}}
		for _, r := range p.regions {
			cp.regionSet[r] = true
		}
		// The generator compiled every regex before writing it, so this
		// cannot fail on generated data.
		cp.regionRE = regexp.MustCompile(p.regionRegex)
		out = append(out, cp)
	}
	return out
})

// suffixes lists every DNS suffix, longest first so that the most specific
// one a host ends with is tried first, ties in lexical order: the order is
// fixed, whatever order the partitions came in.
var suffixes = sync.OnceValue(func() []dnsSuffix {
	bySuffix := map[string][]*compiledPartition{}
	var order []string
	add := func(s string, p *compiledPartition) {
		if s == "" {
			return
		}
		if _, ok := bySuffix[s]; !ok {
			order = append(order, s)
		}
		if !slices.Contains(bySuffix[s], p) {
			bySuffix[s] = append(bySuffix[s], p)
		}
	}
	for _, p := range compiled() {
		add(p.dnsSuffix, p)
		add(p.dualStackDNSSuffix, p)
		if slices.Contains(onAWSPartitions, p.id) {
			add(onAWS, p)
		}
	}
	slices.SortFunc(order, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	out := make([]dnsSuffix, 0, len(order))
	for _, s := range order {
		out = append(out, dnsSuffix{suffix: s, partitions: bySuffix[s]})
	}
	return out
})

var errEmptyHost = errors.New("empty host")

// normalizeHost lower-cases host and strips a :port and one trailing dot. It
// rejects what cannot be a DNS name of an AWS endpoint (RFC 1123): IP
// literals, empty labels, labels that start or end with '-', characters
// outside [a-z0-9-], labels over 63 and names over 253 bytes.
func normalizeHost(host string) (string, error) {
	h := host
	if h == "" {
		return "", errEmptyHost
	}
	if strings.HasPrefix(h, "[") {
		return "", errors.New("an IP address is not an AWS endpoint name")
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		port := h[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", fmt.Errorf("bad port %q", port)
		}
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", errEmptyHost
	}
	if len(h) > 253 {
		return "", errors.New("longer than 253 bytes")
	}
	var b strings.Builder
	b.Grow(len(h))
	labelLen := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == '.':
			if labelLen == 0 {
				return "", errors.New("empty label")
			}
			if h[i-1] == '-' {
				return "", errors.New("a label ends with '-'")
			}
			labelLen = -1
		default:
			return "", fmt.Errorf("character %q is not allowed in a host name", rune(c))
		}
		if c == '-' && labelLen == 0 {
			return "", errors.New("a label starts with '-'")
		}
		labelLen++
		if labelLen > 63 {
			return "", errors.New("label longer than 63 bytes")
		}
		b.WriteByte(c)
	}
	if labelLen == 0 {
		return "", errors.New("empty label")
	}
	if h[len(h)-1] == '-' {
		return "", errors.New("a label ends with '-'")
	}
	h = b.String()
	if isIPv4(h) {
		return "", errors.New("an IP address is not an AWS endpoint name")
	}
	return h, nil
}

func isIPv4(h string) bool {
	labels := strings.Split(h, ".")
	if len(labels) != 4 {
		return false
	}
	for _, l := range labels {
		if strings.Trim(l, "0123456789") != "" {
			return false
		}
	}
	return true
}

// IsSigningName reports whether name is a signing name the generated data
// knows: one of botocore's, one a rule of this package signs with, or one
// the payload table lists. A name the generic rule took from an unknown
// host's first label is not (vpc-lattice-svcs is, being in the table).
// Metrics use it to keep a client-chosen name out of their labels. Safe for
// concurrent use.
func IsSigningName(name string) bool { return knownNames()[name] }

// IsRegion reports whether region is one a partition lists, or one a host
// of the generated table signs with: not merely one its partition's region
// pattern matches. Safe for concurrent use.
func IsRegion(region string) bool { return knownRegions()[region] }

// ruleSigningNames are the signing names rules.go gives besides those of
// the data.
var ruleSigningNames = []string{"s3", "s3-object-lambda", "s3-outposts", "s3express", "execute-api", "lambda",
	"es", "aoss", "cloudsearch", "neptune-db", "iotdata", "appsync", "aps"}

var knownNames = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, name := range signingNames {
		m[name] = true
	}
	for _, e := range hosts() {
		m[e.SigningName] = true
	}
	for _, name := range ruleSigningNames {
		m[name] = true
	}
	for _, r := range payloadRules {
		for _, name := range r.SigningNames {
			m[name] = true
		}
	}
	return m
})

var knownRegions = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, p := range partitions {
		for _, r := range p.regions {
			m[r] = true
		}
	}
	for _, e := range hosts() {
		m[e.Region] = true
	}
	return m
})
