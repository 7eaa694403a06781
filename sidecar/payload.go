package sidecar

import (
	"net/http"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Per-service payload rules (issue 17): how a body is signed and whether
// X-Amz-Content-Sha256 goes with it follow the payload table of package
// endpoint for the signing names it lists, and are what they always were for
// every other name.

// --content-sha256 values.
const (
	// ContentSHA256Auto sends X-Amz-Content-Sha256 where the payload table
	// requires it (the S3 family, aoss, vpc-lattice-svcs) and with
	// UNSIGNED-PAYLOAD.
	ContentSHA256Auto = "auto"
	// ContentSHA256Always sends it, signed, on every request: CloudFront
	// origin access control requires it on PUT and POST to a Lambda
	// function URL origin, which takes no unsigned payload
	// (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-lambda.html).
	ContentSHA256Always = "always"
)

// PayloadMode returns how the proxy signs the body of req under c (its
// --payload and --body-memory) for the signing name service:
// PayloadUnsigned, PayloadSigned or PayloadChunked, auto resolved. In auto
// mode a service of the payload table gets what its row accepts:
// UNSIGNED-PAYLOAD where the row takes nothing else (vpc-lattice-svcs), or
// over https where it takes it (the S3 family); aws-chunked for an upload
// larger than --body-memory where the row takes it (the S3 family over
// http); a body hash otherwise, as for every service the table does not
// list. Chunked is only for S3 object uploads (isObjectUpload), and never
// for a row that refuses aws-chunked. It reads req's method, URL and
// ContentLength, not its body. A body of unknown length that this mode
// cannot sign unread is hashed instead (see prepareBody), and an empty one
// is signed as empty. Exported so that commands signing as the proxy does
// (explain) do not keep a copy. An invalid c.Payload is returned as is.
// Safe for concurrent use.
func (c Config) PayloadMode(req *http.Request, service string) string {
	rule, listed := endpoint.PayloadRuleFor(service)
	auto := func() string {
		switch {
		case !listed:
		case rule.UnsignedPayload && !rule.SignedPayload:
			return PayloadUnsigned
		case rule.UnsignedPayload && req.URL.Scheme == "https":
			return PayloadUnsigned
		case rule.AWSChunked && req.ContentLength > 0 && req.ContentLength > int64(c.BodyMemory) && isObjectUpload(req):
			// Large uploads stream; a body that fits in --body-memory is
			// cheaper to hash than to chunk-sign.
			return PayloadChunked
		}
		return PayloadSigned
	}
	mode := c.Payload
	if mode == PayloadAuto || mode == PayloadChunked && listed && !rule.AWSChunked {
		// A service whose row refuses aws-chunked gets what auto gives it,
		// which is never chunked.
		mode = auto()
	}
	if mode == PayloadChunked && !isObjectUpload(req) {
		// S3 takes aws-chunked bodies for PutObject and UploadPart only
		// (as the SDKs send them); its other operations get a hash.
		mode = PayloadSigned
	}
	return mode
}

// SendsContentSHA256 reports whether a request signed for service with the
// payload hash hash sends X-Amz-Content-Sha256 (and signs it): always with
// --content-sha256 always, for the services whose payload table row
// requires it, and whenever the hash is not the body's own
// (UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER), which a verifier
// cannot guess. Safe for concurrent use.
func (c Config) SendsContentSHA256(service, hash string) bool {
	if c.ContentSHA256 == ContentSHA256Always || hash == signer.UnsignedPayload || hash == signer.StreamingUnsignedPayloadTrailer {
		return true
	}
	rule, listed := endpoint.PayloadRuleFor(service)
	return listed && rule.ContentSHA256
}

// EmptyPayloadHash returns the payload hash a request without a body is
// signed with for the signing name service: UNSIGNED-PAYLOAD where the
// payload table's row takes no body hash (vpc-lattice-svcs), the empty
// string's SHA-256 everywhere else. Safe for concurrent use.
func EmptyPayloadHash(service string) string {
	if rule, listed := endpoint.PayloadRuleFor(service); listed && !rule.SignedPayload {
		return signer.UnsignedPayload
	}
	return signer.EmptyPayloadHash
}

// refuseClientChunked refuses a client's aws-chunked body (its
// X-Amz-Content-Sha256 is payload) to a service whose payload table row
// says it takes none: forwarded, it would only be rejected there.
func refuseClientChunked(service, payload string) error {
	rule, listed := endpoint.PayloadRuleFor(service)
	if !listed || rule.AWSChunked {
		return nil
	}
	return &RequestError{Code: CodeBadRequest, Message: "X-Amz-Content-Sha256 " + payload + ": " + service +
		" takes no aws-chunked body (" + rule.Source + "); send the body plain"}
}

// compileContentHash checks --content-sha256.
func (c *compiled) compileContentHash() error {
	switch v := c.cfg.ContentSHA256; v {
	case "", ContentSHA256Auto, ContentSHA256Always: // "": a Config built in code, auto
		return nil
	default:
		return optionError("ContentSHA256", v, "must be auto or always")
	}
}
