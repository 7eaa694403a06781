package signer

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"sync"
	"time"
)

// Algorithm and the payload-hash values AWS defines besides a hex SHA-256.
const (
	// Algorithm is the SigV4 algorithm identifier that opens the string to sign
	// and the Authorization header.
	Algorithm = "AWS4-HMAC-SHA256"
	// EmptyPayloadHash is the hex SHA-256 of an empty body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// UnsignedPayload leaves the body out of the signature (S3 only).
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// StreamingPayload is S3's aws-chunked upload with a signature per chunk.
	StreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	// StreamingPayloadTrailer is StreamingPayload followed by a signed trailer.
	StreamingPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// StreamingUnsignedPayloadTrailer is aws-chunked without chunk signatures,
	// followed by an unsigned trailer (a checksum).
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Credentials are the keys a request is signed with. The signer never logs
// them and never returns them or anything derived from them.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Setting is a three-way switch whose zero value means "the service's default".
type Setting uint8

const (
	// Default takes the rule AWS applies to the service (see IsS3Family).
	Default Setting = iota
	// Enabled forces the rule on.
	Enabled
	// Disabled forces the rule off.
	Disabled
)

// Options say how one request is signed.
type Options struct {
	// Service is the signing name (the scope's service), e.g. "s3", "execute-api".
	Service string
	// Region is the scope's region, e.g. "us-east-1".
	Region string
	// Time is the signing time; it is converted to UTC. The package has no clock.
	Time time.Time
	// PayloadHash is the hex SHA-256 of the body, or one of EmptyPayloadHash,
	// UnsignedPayload or the streaming constants. Required.
	PayloadHash string
	// SetContentSHA256 sets X-Amz-Content-Sha256 to PayloadHash and signs it.
	// The S3 family requires it.
	SetContentSHA256 bool
	// UnsignedHeaders reports, for a lowercase header name, whether the header
	// is left out of the signature. nil signs every header. Authorization is
	// never signed; host, and the x-amz-date, x-amz-security-token and
	// x-amz-content-sha256 the signer sets, are always signed whatever it
	// says. DefaultUnsignedHeaders is aws-sdk-go-v2's choice and what a
	// proxy wants: hops add or rewrite those headers.
	UnsignedHeaders func(lowerName string) bool
	// Debug fills Result.CanonicalRequest and Result.StringToSign. It costs
	// two allocations, so it is off on the hot path.
	Debug bool

	// DoubleEncodePath URI-encodes each path segment of the already-encoded
	// URL path once more. Default: on, except for the S3 family.
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
	DoubleEncodePath Setting
	// NormalizePath removes "." and ".." segments and duplicate slashes
	// (RFC 3986 section 5.2.4). Default: on, except for the S3 family, whose
	// object keys may legitimately contain them.
	NormalizePath Setting
	// AddSessionTokenAfterSigning adds X-Amz-Security-Token to the request
	// without signing it, as some services (IoT) expect and as the official
	// suite's omit_session_token cases do.
	AddSessionTokenAfterSigning bool

	// Algorithm selects SigV4 (the zero value) or SigV4a. SigV4a signs for
	// RegionSet, with a scope that has no region, and uses Region only when
	// RegionSet is empty.
	Algorithm SigningAlgorithm
	// RegionSet is the regions a SigV4a signature is valid in, e.g. {"*"}
	// or {"us-east-1", "us-west-2"}; sent and signed as X-Amz-Region-Set.
	// Empty means {Region}. Unused by SigV4.
	RegionSet []string
}

// Result describes a signature without revealing it: it never holds a
// secret, a derived key or the signature itself, so it is safe to log.
type Result struct {
	// Scope is date/region/service/aws4_request.
	Scope string
	// SignedHeaders is the semicolon-separated list of signed header names.
	SignedHeaders string
	// RegionSet is the X-Amz-Region-Set a SigV4a signature is valid in;
	// empty for SigV4.
	RegionSet string
	// CanonicalRequest and StringToSign are set only with Options.Debug.
	CanonicalRequest string
	StringToSign     string
	// Time is the signing time in UTC.
	Time time.Time
}

// DefaultUnsignedHeaders leaves out the headers that aws-sdk-go-v2's signer
// ignores because hops between client and AWS add or rewrite them.
func DefaultUnsignedHeaders(lowerName string) bool {
	switch lowerName {
	case "authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding":
		return true
	}
	return false
}

// IsS3Family reports whether service is one of the S3 signing names, whose
// canonical URI is neither double-encoded nor normalized:
// s3, s3-object-lambda, s3-outposts and s3express.
func IsS3Family(service string) bool {
	switch service {
	case "s3", "s3-object-lambda", "s3-outposts", "s3express":
		return true
	}
	return false
}

// Signer signs HTTP requests with SigV4. It holds only a derived-key cache
// and is safe for concurrent use by many goroutines.
type Signer struct {
	keys *KeyCache
}

// New returns a Signer that caches derived keys in keys; nil gives it its own
// cache of DefaultKeyCacheSize entries.
func New(keys *KeyCache) *Signer {
	if keys == nil {
		keys = NewKeyCache(DefaultKeyCacheSize)
	}
	return &Signer{keys: keys}
}

// Sign signs req in its headers. It modifies req in place: it sets
// X-Amz-Date and Authorization, sets X-Amz-Security-Token when creds carries
// a token and removes any stale one otherwise, and sets X-Amz-Content-Sha256
// when opts.SetContentSHA256. It signs req.Host if set, else req.URL.Host,
// and Content-Length when req.ContentLength > 0 (as net/http will send it).
// It does not read the body. With opts.Algorithm SigV4a it also sets
// X-Amz-Region-Set and signs with ECDSA (see v4a.go). Safe for concurrent
// use on distinct requests.
func (s *Signer) Sign(req *http.Request, creds Credentials, opts Options) (Result, error) {
	if opts.Algorithm != SigV4 {
		return s.signV4a(req, creds, opts, modeHeader, 0)
	}
	return s.sign(req, creds, opts, false, 0)
}

// Presign signs req in its query string (a presigned URL) valid for
// expires. It modifies req.URL.RawQuery in place, adding X-Amz-Algorithm,
// X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders,
// X-Amz-Security-Token (when creds has a token) and X-Amz-Signature, and
// removes any of those already present (with SigV4a, X-Amz-Region-Set
// too). Headers are not modified.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
func (s *Signer) Presign(req *http.Request, creds Credentials, opts Options, expires time.Duration) (Result, error) {
	if opts.Algorithm != SigV4 {
		return s.signV4a(req, creds, opts, modeQuery, expires)
	}
	return s.sign(req, creds, opts, true, expires)
}

// HashPayload returns the hex SHA-256 of body, the PayloadHash of a request
// that carries it. Safe for concurrent use.
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	var out [64]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// HashPayloadReader returns the hex SHA-256 of everything r yields, reading
// it through one pooled 32 KiB buffer. It does not close r.
func HashPayloadReader(r io.Reader) (string, error) {
	h := sha256.New()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	if _, err := io.CopyBuffer(h, r, *buf); err != nil {
		return "", err
	}
	var sum [sha256.Size]byte
	var out [64]byte
	hex.Encode(out[:], h.Sum(sum[:0]))
	return string(out[:]), nil
}
