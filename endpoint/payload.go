package endpoint

import "slices"

// PayloadRule is what one service demands of the payload hash of a request
// signed with SigV4: whether X-Amz-Content-Sha256 must be sent (and signed),
// whether the body's SHA-256 and UNSIGNED-PAYLOAD are accepted as the hash,
// and whether aws-chunked bodies are. A service that no rule names demands
// none of this: its payload hash is only part of the canonical request, and
// the proxy signs it as it always has.
type PayloadRule struct {
	// Name is the row's name, for explain: the signing name, or "s3" for
	// the S3 family.
	Name string
	// SigningNames are the signing names the row is for.
	SigningNames []string
	// ContentSHA256 says the service rejects a signed request without
	// X-Amz-Content-Sha256, whether or not it has a body.
	ContentSHA256 bool
	// SignedPayload says the body's SHA-256 is accepted as the payload hash.
	SignedPayload bool
	// UnsignedPayload says UNSIGNED-PAYLOAD is accepted as the payload hash.
	UnsignedPayload bool
	// AWSChunked says aws-chunked bodies (the STREAMING-* payload hashes)
	// are accepted.
	AWSChunked bool
	// Source is the AWS documentation page the row comes from.
	Source string
}

// payloadRules is the payload table. Each row says only what its source
// says; a service whose documentation says nothing of the payload hash has
// no row.
var payloadRules = []PayloadRule{
	{
		// Every request carries x-amz-content-sha256: the body's hash
		// (signed payload), UNSIGNED-PAYLOAD, or a STREAMING-* value for
		// an aws-chunked upload. S3 Express One Zone, Object Lambda and
		// Outposts take the S3 API's rules (signer.IsS3Family).
		Name:          "s3",
		SigningNames:  []string{"s3", "s3-object-lambda", "s3-outposts", "s3express"},
		ContentSHA256: true, SignedPayload: true, UnsignedPayload: true, AWSChunked: true,
		Source: "https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html",
	},
	{
		// OpenSearch Serverless requires x-amz-content-sha256 on every
		// signed request, set to the body's SHA-256 (the empty string's
		// without a body); a request with a body and without it is
		// denied ("gw-helper-deny"). UNSIGNED-PAYLOAD is not documented.
		Name:          "aoss",
		SigningNames:  []string{"aoss"},
		ContentSHA256: true, SignedPayload: true,
		Source: "https://docs.aws.amazon.com/opensearch-service/latest/developerguide/serverless-clients.html#serverless-signing",
	},
	{
		// VPC Lattice: "VPC Lattice does not support payload signing. You
		// must send an x-amz-content-sha256 header with the value set to
		// UNSIGNED-PAYLOAD", which also lets a body stream.
		Name:          "vpc-lattice-svcs",
		SigningNames:  []string{"vpc-lattice-svcs"},
		ContentSHA256: true, UnsignedPayload: true,
		Source: "https://docs.aws.amazon.com/vpc-lattice/latest/ug/sigv4-authenticated-requests.html",
	},
}

// PayloadRuleFor returns the payload table's row for signingName, and
// false when no row names it. Safe for concurrent use; the row's slices
// must not be modified.
func PayloadRuleFor(signingName string) (PayloadRule, bool) {
	for _, r := range payloadRules {
		if slices.Contains(r.SigningNames, signingName) {
			return r, true
		}
	}
	return PayloadRule{}, false
}

// PayloadRules returns a copy of every row of the payload table, in the
// table's order, for documentation and tests.
func PayloadRules() []PayloadRule {
	out := make([]PayloadRule, len(payloadRules))
	for i, r := range payloadRules {
		r.SigningNames = slices.Clone(r.SigningNames)
		out[i] = r
	}
	return out
}
