package endpoint

import (
	"fmt"
)

// Endpoint is what a request to one host must be signed with.
type Endpoint struct {
	// SigningName is the SigV4 service name in the credential scope, e.g.
	// "bedrock" for bedrock-runtime.us-east-1.amazonaws.com.
	SigningName string
	// Region is the signing region. Global endpoints carry their signing
	// region (iam.amazonaws.com -> us-east-1, iam.cn-north-1.amazonaws.com.cn
	// -> cn-north-1).
	Region string
	// Partition is the AWS partition the host belongs to: aws, aws-cn,
	// aws-us-gov, aws-iso, ...
	Partition string
	// Rule is the short name of the rule or table entry that matched, for
	// explain and debug output. It is not a stable API.
	Rule string
}

// UnknownHostError is returned by Resolve when no table entry or rule gives a
// signing name and region for Host.
type UnknownHostError struct {
	Host string
}

func (e *UnknownHostError) Error() string {
	return fmt.Sprintf("cannot derive AWS service and region from host %q: set --service and --region", e.Host)
}

// Resolve returns the signing name and region for host. host may carry a
// :port and is matched case-insensitively. The answer depends only on host
// and the generated table, never on map order or the environment. Resolve is
// safe for concurrent use.
//
// A host nothing matches gives a *UnknownHostError.
func Resolve(host string) (Endpoint, error) {
	return Endpoint{}, &UnknownHostError{Host: host}
}

// DefaultAllowHosts returns the glob patterns of every AWS partition's DNS
// suffixes ("*.amazonaws.com", "*.api.aws", ...), sorted. The caller owns the
// returned slice.
func DefaultAllowHosts() []string {
	return []string{"*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws", "*.on.aws"}
}
