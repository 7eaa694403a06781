package sidecar

import "github.com/sigv4-sidecar/sigv4-sidecar/diagnose"

// advice is what to do about each cause package diagnose reports, in the
// words of a user of this program: it names its options (--debug-signing,
// --payload unsigned, --unsigned-headers, --service, --region) and
// subcommands (check, explain, diagnose). It is the one table of it: the
// proxy's rejection log lines and the CLI's subcommands both read Advice.
var advice = map[diagnose.ProblemCode]string{
	diagnose.CodeAuthorizationMissing: "sign the request: send it through the sidecar (it adds Authorization, X-Amz-Date and, with temporary credentials, X-Amz-Security-Token). " +
		"API Gateway also answers \"Missing Authentication Token\" for a path or method that does not exist: check the URL.",
	diagnose.CodeSignatureV2:          "Signature Version 2 is retired: sign with Signature Version 4 (AWS4-HMAC-SHA256), which the sidecar does; remove the client's own Authorization header or its SigV2 setting.",
	diagnose.CodeUnsupportedAlgorithm: "start the Authorization header with exactly AWS4-HMAC-SHA256 (upper case); SigV4a (AWS4-ECDSA-P256-SHA256) is only for multi-Region access points.",
	diagnose.CodeMissingSpace:         "put exactly one space between the algorithm and Credential: \"AWS4-HMAC-SHA256 Credential=...\".",
	diagnose.CodeMissingComma:         "separate the components with commas: \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\".",
	diagnose.CodeMalformedComponent:   "the header is \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\": each component Name=value, names spelled exactly so, each once.",
	diagnose.CodeMissingCredential:    "add Credential=<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request to the Authorization header.",
	diagnose.CodeMissingSignedHeaders: "add SignedHeaders=<lowercase header names, sorted, joined with ';'> (at least host) to the Authorization header.",
	diagnose.CodeMissingSignature:     "add Signature=<64 lowercase hex digits> to the Authorization header.",
	diagnose.CodeMalformedScope:       "the credential scope is <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request, e.g. AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request.",
	diagnose.CodeMalformedSignature:   "the signature is the HMAC-SHA256 of the string to sign in 64 lowercase hex digits; do not base64 it or cut it.",
	diagnose.CodeSignedHeadersOrder:   "list signed header names in lower case, sorted by byte value, separated by ';' with no spaces or empty names, each once.",
	diagnose.CodeMissingDate:          "send X-Amz-Date (yyyyMMddTHHmmssZ, UTC) with the request and sign it; the sidecar sets it.",
	diagnose.CodeMalformedDate:        "X-Amz-Date is ISO 8601 basic format in UTC: yyyyMMddTHHmmssZ, e.g. 20150830T123600Z (no dashes, colons or fractions).",
	diagnose.CodeDateScopeMismatch:    "use the same UTC day in the credential scope as in X-Amz-Date: derive both from one timestamp.",
	diagnose.CodeHostNotSigned:        "sign the host header: add host to SignedHeaders (the sidecar always signs it).",
	diagnose.CodeSignedHeaderAbsent:   "send every header named in SignedHeaders, or drop it from the list; a proxy or load balancer on the way may have removed it (then leave it unsigned with --unsigned-headers).",
	diagnose.CodeAmzHeaderNotSigned:   "S3 requires every x-amz-* header on the request to be signed: sign it, or do not send it.",
	diagnose.CodeMissingContentSHA256: "S3, OpenSearch Serverless and VPC Lattice require X-Amz-Content-Sha256 (the body's hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* value), signed; the sidecar sets it for the services of its payload table: check --service, or set --content-sha256 always.",
	diagnose.CodeSignatureExpired:     "sign each request just before it is sent (never replay a signed request), and make sure the signing host's clock is right (NTP/chrony): AWS accepts X-Amz-Date up to 15 minutes off; a presigned URL dies at X-Amz-Date + X-Amz-Expires.",
	diagnose.CodeSignatureNotYetValid: "the signing host's clock is ahead of AWS's: synchronize it (NTP/chrony; in a container, the node's clock); AWS accepts 15 minutes of difference.",
	diagnose.CodeClockSkew:            "synchronize the signing host's clock with NTP/chrony (in a container, the node's clock); `sigv4-sidecar check` prints the offset from AWS's Date.",
	diagnose.CodeWrongRegion:          "sign for the region of the endpoint you call: fix --region (or drop it so the sidecar derives the region from the host), or call the endpoint of the region you sign for.",
	diagnose.CodeWrongService:         "sign with the endpoint's signing name, which is not always the host prefix (bedrock-runtime signs as bedrock, *.execute-api as execute-api): fix --service or drop it so the sidecar derives it from the host.",
	diagnose.CodeMultipleAuth:         "use one auth mechanism: either the Authorization header or presigned X-Amz-* query parameters, not both (the sidecar strips the client's own before signing).",
	diagnose.CodeUnknownAccessKey:     "the access key id is not known to this endpoint or partition: check the credentials source (`sigv4-sidecar check`), that the key is active, that a session token accompanies temporary (ASIA...) keys, and that the endpoint is in the key's partition.",
	diagnose.CodeExpiredToken:         "the temporary credentials have expired: refresh them (re-run `aws sso login`, check the web identity token file or role session duration); the sidecar refreshes ahead of expiry when its source can.",
	diagnose.CodePayloadHashMismatch:  "X-Amz-Content-Sha256 must be the hex SHA-256 of the body as sent: something changed the body after signing (compression, a proxy), or the hash was computed on other bytes; try --payload unsigned for S3 over https.",
	diagnose.CodeAccessDenied:         "the signature was accepted; the identity lacks permission: check the IAM policy, the resource policy and SCPs for this action (`sigv4-sidecar check` prints the identity ARN).",
	diagnose.CodeWrongSecret:          "the server computed the same string to sign but a different signature: the secret access key does not belong to the access key id (a rotated or mistyped secret, mixed-up credentials): check the credentials source with `sigv4-sidecar check`.",
	diagnose.CodeSignatureMismatch: "compare what was signed with what the server computed: run the proxy with --debug-signing, or `sigv4-sidecar explain` the same request; typical causes are a wrong secret, a hop that changed a signed header, the path or the query after signing, and a wrong service or region. " +
		"Servers that return their canonical request (S3-compatible gateways, AWS query APIs) let `sigv4-sidecar diagnose --error-body` name the part.",
	diagnose.CodeMalformedAuthorization: "the Authorization header could not be parsed: run `sigv4-sidecar diagnose --authorization '...'` on it to name the component.",
	diagnose.CodeMethodDiffers:          "the server saw another HTTP method than the one signed: a redirect or a hop rewrote it (HEAD/GET, POST after 30x); sign the method actually sent.",
	diagnose.CodePathDiffers:            "the URI path was canonicalized differently: S3 signs the path as sent (no double encoding, no dot-segment removal), every other service double-encodes and normalizes; check --service, and that no hop re-encodes or rewrites the path (a base path, %2F, spaces).",
	diagnose.CodeQueryDiffers:           "the query string was canonicalized differently: parameters sorted by encoded name then value, every name and value percent-encoded (space as %20, never +), empty values kept as name=; check that no hop adds, drops or re-encodes parameters.",
	diagnose.CodeHeaderDiffers:          "a signed header reached the server with another value (or not at all): a hop changed it after signing; stop the hop from changing it, or leave the header unsigned with --unsigned-headers.",
	diagnose.CodeSignedHeadersDiffer:    "the server used another list of signed headers: SignedHeaders must be lower case, sorted and match the canonical headers block.",
	diagnose.CodePayloadHashDiffers:     "the payload hash differs: the body changed after signing, or X-Amz-Content-Sha256 was not the hash the server expects; for S3 over https try --payload unsigned.",
	diagnose.CodeCanonicalDiffers:       "the server hashed another canonical request than ours but did not return it: run the proxy with --debug-signing and compare with what the server received.",
	diagnose.CodeTimestampDiffers:       "the server used another timestamp than X-Amz-Date: a hop changed or dropped X-Amz-Date, or a Date header disagrees with it.",
}

// Advice says what to do about a diagnosed cause; "" for a code diagnose
// does not declare. Safe for concurrent use.
func Advice(code diagnose.ProblemCode) string { return advice[code] }
