package signer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file names what is wrong with a signed request, for the explain and
// diagnose commands and the proxy's logs. It reads strings and headers only:
// it signs nothing and never needs a secret.
//
// The causes and AWS's wording for them come from
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
// and from the error messages AWS services return (issue 8).

// ProblemCode names one cause of a rejected signature. Codes are stable:
// scripts and metrics may key on them.
type ProblemCode string

// The causes Diagnose and ClassifyAWSError report.
const (
	CodeAuthorizationMissing   ProblemCode = "authorization-missing"
	CodeSignatureV2            ProblemCode = "signature-v2"
	CodeUnsupportedAlgorithm   ProblemCode = "unsupported-algorithm"
	CodeMissingSpace           ProblemCode = "missing-space"
	CodeMissingComma           ProblemCode = "missing-comma"
	CodeMalformedComponent     ProblemCode = "malformed-component"
	CodeMissingCredential      ProblemCode = "missing-credential"
	CodeMissingSignedHeaders   ProblemCode = "missing-signed-headers"
	CodeMissingSignature       ProblemCode = "missing-signature"
	CodeMalformedScope         ProblemCode = "malformed-credential-scope"
	CodeMalformedSignature     ProblemCode = "malformed-signature"
	CodeSignedHeadersOrder     ProblemCode = "signed-headers-not-canonical"
	CodeMissingDate            ProblemCode = "missing-date"
	CodeMalformedDate          ProblemCode = "malformed-date"
	CodeDateScopeMismatch      ProblemCode = "date-scope-mismatch"
	CodeHostNotSigned          ProblemCode = "host-not-signed"
	CodeSignedHeaderAbsent     ProblemCode = "signed-header-absent"
	CodeAmzHeaderNotSigned     ProblemCode = "x-amz-header-not-signed"
	CodeMissingContentSHA256   ProblemCode = "missing-content-sha256"
	CodeSignatureExpired       ProblemCode = "signature-expired"
	CodeSignatureNotYetValid   ProblemCode = "signature-not-yet-valid"
	CodeClockSkew              ProblemCode = "clock-skew"
	CodeWrongRegion            ProblemCode = "wrong-region"
	CodeWrongService           ProblemCode = "wrong-service"
	CodeMultipleAuth           ProblemCode = "multiple-auth-mechanisms"
	CodeUnknownAccessKey       ProblemCode = "unknown-access-key"
	CodeExpiredToken           ProblemCode = "expired-token"
	CodePayloadHashMismatch    ProblemCode = "payload-hash-mismatch"
	CodeAccessDenied           ProblemCode = "access-denied"
	CodeWrongSecret            ProblemCode = "wrong-secret"
	CodeSignatureMismatch      ProblemCode = "signature-mismatch"
	CodeMalformedAuthorization ProblemCode = "malformed-authorization"
	CodeMethodDiffers          ProblemCode = "canonical-method-differs"
	CodePathDiffers            ProblemCode = "canonical-path-differs"
	CodeQueryDiffers           ProblemCode = "canonical-query-differs"
	CodeHeaderDiffers          ProblemCode = "canonical-header-differs"
	CodeSignedHeadersDiffer    ProblemCode = "canonical-signed-headers-differ"
	CodePayloadHashDiffers     ProblemCode = "canonical-payload-hash-differs"
	CodeCanonicalDiffers       ProblemCode = "canonical-request-differs"
	CodeTimestampDiffers       ProblemCode = "timestamp-differs"
)

// Problem is one thing wrong with a signed request: a stable Code, a Message
// saying what was found, and a Fix saying what to do. Neither text holds a
// secret, a signature or a session token.
type Problem struct {
	Code    ProblemCode
	Message string
	Fix     string
}

func (p Problem) String() string { return string(p.Code) + ": " + p.Message }

// fixes is the advice for each code; a Problem may refine it.
var fixes = map[ProblemCode]string{
	CodeAuthorizationMissing: "sign the request: send it through the sidecar (it adds Authorization, X-Amz-Date and, with temporary credentials, X-Amz-Security-Token). " +
		"API Gateway also answers \"Missing Authentication Token\" for a path or method that does not exist: check the URL.",
	CodeSignatureV2:          "Signature Version 2 is retired: sign with Signature Version 4 (AWS4-HMAC-SHA256), which the sidecar does; remove the client's own Authorization header or its SigV2 setting.",
	CodeUnsupportedAlgorithm: "start the Authorization header with exactly AWS4-HMAC-SHA256 (upper case); SigV4a (AWS4-ECDSA-P256-SHA256) is only for multi-Region access points.",
	CodeMissingSpace:         "put exactly one space between the algorithm and Credential: \"AWS4-HMAC-SHA256 Credential=...\".",
	CodeMissingComma:         "separate the components with commas: \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\".",
	CodeMalformedComponent:   "the header is \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\": each component Name=value, names spelled exactly so, each once.",
	CodeMissingCredential:    "add Credential=<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request to the Authorization header.",
	CodeMissingSignedHeaders: "add SignedHeaders=<lowercase header names, sorted, joined with ';'> (at least host) to the Authorization header.",
	CodeMissingSignature:     "add Signature=<64 lowercase hex digits> to the Authorization header.",
	CodeMalformedScope:       "the credential scope is <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request, e.g. AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request.",
	CodeMalformedSignature:   "the signature is the HMAC-SHA256 of the string to sign in 64 lowercase hex digits; do not base64 it or cut it.",
	CodeSignedHeadersOrder:   "list signed header names in lower case, sorted by byte value, separated by ';' with no spaces or empty names, each once.",
	CodeMissingDate:          "send X-Amz-Date (yyyyMMddTHHmmssZ, UTC) with the request and sign it; the sidecar sets it.",
	CodeMalformedDate:        "X-Amz-Date is ISO 8601 basic format in UTC: yyyyMMddTHHmmssZ, e.g. 20150830T123600Z (no dashes, colons or fractions).",
	CodeDateScopeMismatch:    "use the same UTC day in the credential scope as in X-Amz-Date: derive both from one timestamp.",
	CodeHostNotSigned:        "sign the host header: add host to SignedHeaders (the sidecar always signs it).",
	CodeSignedHeaderAbsent:   "send every header named in SignedHeaders, or drop it from the list; a proxy or load balancer on the way may have removed it (then leave it unsigned with --unsigned-headers).",
	CodeAmzHeaderNotSigned:   "S3 requires every x-amz-* header on the request to be signed: sign it, or do not send it.",
	CodeMissingContentSHA256: "S3 requires X-Amz-Content-Sha256 (the body's hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* value), signed; the sidecar sets it for the S3 family: check --service.",
	CodeSignatureExpired:     "sign each request just before it is sent (never replay a signed request), and make sure the signing host's clock is right (NTP/chrony): AWS accepts X-Amz-Date up to 15 minutes off; a presigned URL dies at X-Amz-Date + X-Amz-Expires.",
	CodeSignatureNotYetValid: "the signing host's clock is ahead of AWS's: synchronize it (NTP/chrony; in a container, the node's clock); AWS accepts 15 minutes of difference.",
	CodeClockSkew:            "synchronize the signing host's clock with NTP/chrony (in a container, the node's clock); `sigv4-sidecar check` prints the offset from AWS's Date.",
	CodeWrongRegion:          "sign for the region of the endpoint you call: fix --region (or drop it so the sidecar derives the region from the host), or call the endpoint of the region you sign for.",
	CodeWrongService:         "sign with the endpoint's signing name, which is not always the host prefix (bedrock-runtime signs as bedrock, *.execute-api as execute-api): fix --service or drop it so the sidecar derives it from the host.",
	CodeMultipleAuth:         "use one auth mechanism: either the Authorization header or presigned X-Amz-* query parameters, not both (the sidecar strips the client's own before signing).",
	CodeUnknownAccessKey:     "the access key id is not known to this endpoint or partition: check the credentials source (`sigv4-sidecar check`), that the key is active, that a session token accompanies temporary (ASIA...) keys, and that the endpoint is in the key's partition.",
	CodeExpiredToken:         "the temporary credentials have expired: refresh them (re-run `aws sso login`, check the web identity token file or role session duration); the sidecar refreshes ahead of expiry when its source can.",
	CodePayloadHashMismatch:  "X-Amz-Content-Sha256 must be the hex SHA-256 of the body as sent: something changed the body after signing (compression, a proxy), or the hash was computed on other bytes; try --payload unsigned for S3 over https.",
	CodeAccessDenied:         "the signature was accepted; the identity lacks permission: check the IAM policy, the resource policy and SCPs for this action (`sigv4-sidecar check` prints the identity ARN).",
	CodeWrongSecret:          "the server computed the same string to sign but a different signature: the secret access key does not belong to the access key id (a rotated or mistyped secret, mixed-up credentials): check the credentials source with `sigv4-sidecar check`.",
	CodeSignatureMismatch: "compare what was signed with what the server computed: run the proxy with --debug-signing, or `sigv4-sidecar explain` the same request; typical causes are a wrong secret, a hop that changed a signed header, the path or the query after signing, and a wrong service or region. " +
		"Servers that return their canonical request (S3-compatible gateways, AWS query APIs) let `sigv4-sidecar diagnose --error-body` name the part.",
	CodeMalformedAuthorization: "the Authorization header could not be parsed: run `sigv4-sidecar diagnose --authorization '...'` on it to name the component.",
	CodeMethodDiffers:          "the server saw another HTTP method than the one signed: a redirect or a hop rewrote it (HEAD/GET, POST after 30x); sign the method actually sent.",
	CodePathDiffers:            "the URI path was canonicalized differently: S3 signs the path as sent (no double encoding, no dot-segment removal), every other service double-encodes and normalizes; check --service, and that no hop re-encodes or rewrites the path (a base path, %2F, spaces).",
	CodeQueryDiffers:           "the query string was canonicalized differently: parameters sorted by encoded name then value, every name and value percent-encoded (space as %20, never +), empty values kept as name=; check that no hop adds, drops or re-encodes parameters.",
	CodeHeaderDiffers:          "a signed header reached the server with another value (or not at all): a hop changed it after signing; stop the hop from changing it, or leave the header unsigned with --unsigned-headers.",
	CodeSignedHeadersDiffer:    "the server used another list of signed headers: SignedHeaders must be lower case, sorted and match the canonical headers block.",
	CodePayloadHashDiffers:     "the payload hash differs: the body changed after signing, or X-Amz-Content-Sha256 was not the hash the server expects; for S3 over https try --payload unsigned.",
	CodeCanonicalDiffers:       "the server hashed another canonical request than ours but did not return it: run the proxy with --debug-signing and compare with what the server received.",
	CodeTimestampDiffers:       "the server used another timestamp than X-Amz-Date: a hop changed or dropped X-Amz-Date, or a Date header disagrees with it.",
}

func problem(code ProblemCode, message string) Problem {
	return Problem{Code: code, Message: message, Fix: fixes[code]}
}

// Authorization is a parsed SigV4 Authorization header. Signature is
// present only so that callers can compare it; never log it.
type Authorization struct {
	Algorithm     string
	AccessKeyID   string
	Scope         string // date/region/service/terminator, as given
	Date          string // YYYYMMDD from the scope
	Region        string
	Service       string
	Terminator    string // "aws4_request" when well formed
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
//
// and returns what it could read together with every problem it found; a
// header with no problems is a well-formed SigV4 header. It never fails
// outright and never panics, whatever the input. Messages never quote the
// signature.
func ParseAuthorization(header string) (Authorization, []Problem) {
	var a Authorization
	var problems []Problem
	add := func(p Problem) {
		for _, q := range problems {
			if q.Code == p.Code {
				return
			}
		}
		problems = append(problems, p)
	}
	h := strings.TrimSpace(header)
	if h == "" {
		return a, []Problem{problem(CodeAuthorizationMissing, "the request has no Authorization header")}
	}

	algo, rest, hasSpace := strings.Cut(h, " ")
	if !hasSpace {
		algo, rest = h, ""
	}
	if i := strings.Index(algo, "Credential="); i > 0 {
		// "AWS4-HMAC-SHA256Credential=..." or "AWS4-HMAC-SHA256,Credential=..."
		add(problem(CodeMissingSpace, "no space between the algorithm and Credential"))
		algo, rest = strings.TrimRight(algo[:i], ","), algo[i:]+" "+rest
	}
	a.Algorithm = algo
	switch {
	case algo == Algorithm:
	case algo == "AWS":
		add(problem(CodeSignatureV2, `the Authorization header is the Signature Version 2 form "AWS <access key>:<signature>"`))
		return a, problems
	case algo == "AWS4-ECDSA-P256-SHA256":
		add(problem(CodeUnsupportedAlgorithm, `the algorithm is "AWS4-ECDSA-P256-SHA256" (SigV4a), not "AWS4-HMAC-SHA256"`))
	default:
		add(problem(CodeUnsupportedAlgorithm, "the algorithm is "+quoteShort(algo)+`, not "AWS4-HMAC-SHA256"`))
	}

	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		fields := strings.Fields(part)
		if len(fields) > 1 {
			add(problem(CodeMissingComma, "components are separated by spaces where a comma is required"))
		}
		for _, f := range fields {
			name, value, ok := strings.Cut(f, "=")
			if !ok {
				add(problem(CodeMalformedComponent, "component "+quoteShort(redactSignatureLike(f))+" has no '='"))
				continue
			}
			switch name {
			case "Credential", "SignedHeaders", "Signature":
			default:
				msg := "unknown component " + quoteShort(name)
				if canon := canonicalComponent(name); canon != "" {
					msg = "component " + quoteShort(name) + " must be spelled " + quoteShort(canon) + " (names are case-sensitive)"
				}
				add(problem(CodeMalformedComponent, msg))
				continue
			}
			if seen[name] {
				add(problem(CodeMalformedComponent, "component "+name+" appears more than once"))
				continue
			}
			seen[name] = true
			switch name {
			case "Credential":
				a.parseCredential(value)
			case "SignedHeaders":
				if value != "" {
					a.SignedHeaders = strings.Split(value, ";")
				}
			case "Signature":
				a.Signature = value
			}
		}
	}

	if a.Scope == "" && a.AccessKeyID == "" {
		add(problem(CodeMissingCredential, "the Authorization header has no Credential"))
	} else if msg := a.scopeProblem(); msg != "" {
		add(problem(CodeMalformedScope, msg))
	}
	if len(a.SignedHeaders) == 0 {
		add(problem(CodeMissingSignedHeaders, "the Authorization header has no SignedHeaders"))
	} else {
		if msg := signedHeadersProblem(a.SignedHeaders); msg != "" {
			add(problem(CodeSignedHeadersOrder, msg))
		}
		if !a.Signs("host") && !a.Signs(":authority") {
			add(problem(CodeHostNotSigned, "host is not in SignedHeaders ("+quoteShort(strings.Join(a.SignedHeaders, ";"))+")"))
		}
	}
	if a.Signature == "" && seen["Signature"] {
		add(problem(CodeMissingSignature, "the Authorization header's Signature is empty"))
	} else if a.Signature == "" {
		add(problem(CodeMissingSignature, "the Authorization header has no Signature"))
	} else if !isLowerHex(a.Signature, 64) {
		add(problem(CodeMalformedSignature, "the signature is "+strconv.Itoa(len(a.Signature))+" characters, not 64 lowercase hex digits"))
	}
	if a.Signature != "" {
		// Whatever a malformed header put where, the signature stays out of messages.
		for i := range problems {
			problems[i].Message = strings.ReplaceAll(problems[i].Message, a.Signature, "<redacted>")
		}
	}
	return a, problems
}

// Signs reports whether name (lower case) is in SignedHeaders.
func (a Authorization) Signs(name string) bool {
	for _, h := range a.SignedHeaders {
		if h == name {
			return true
		}
	}
	return false
}

func canonicalComponent(name string) string {
	for _, c := range []string{"Credential", "SignedHeaders", "Signature"} {
		if strings.EqualFold(name, c) {
			return c
		}
	}
	return ""
}

func (a *Authorization) parseCredential(value string) {
	key, scope, _ := strings.Cut(value, "/")
	a.AccessKeyID, a.Scope = key, scope
	parts := strings.Split(scope, "/")
	if len(parts) > 0 {
		a.Date = parts[0]
	}
	if len(parts) > 1 {
		a.Region = parts[1]
	}
	if len(parts) > 2 {
		a.Service = parts[2]
	}
	if len(parts) > 3 {
		a.Terminator = parts[3]
	}
}

// scopeProblem says what is wrong with the credential, or "".
func (a Authorization) scopeProblem() string {
	const want = "; expected <access key id>/YYYYMMDD/<region>/<service>/aws4_request"
	if a.AccessKeyID == "" {
		return "the credential has no access key id before the scope" + want
	}
	if n := strings.Count(a.Scope, "/") + 1; a.Scope == "" || n != 4 {
		return "the credential scope " + quoteShort(a.Scope) + " has " + strconv.Itoa(n) + " parts, not 4" + want
	}
	if _, err := time.Parse("20060102", a.Date); err != nil || len(a.Date) != 8 {
		return "the credential scope's date " + quoteShort(a.Date) + " is not YYYYMMDD" + want
	}
	if !isName(a.Region) {
		return "the credential scope's region " + quoteShort(a.Region) + " is not a region name such as us-east-1" + want
	}
	if !isName(a.Service) {
		return "the credential scope's service " + quoteShort(a.Service) + " is not a signing name such as s3 or execute-api" + want
	}
	if a.Terminator != "aws4_request" {
		return "the credential scope ends in " + quoteShort(a.Terminator) + ", not aws4_request" + want
	}
	return ""
}

func signedHeadersProblem(names []string) string {
	for i, n := range names {
		switch {
		case n == "":
			return "SignedHeaders has an empty name (a doubled, leading or trailing ';')"
		case strings.ToLower(n) != n:
			return "SignedHeaders names " + quoteShort(n) + " in upper case"
		case strings.TrimSpace(n) != n:
			return "SignedHeaders has spaces around " + quoteShort(strings.TrimSpace(n))
		case i > 0 && names[i-1] == n:
			return "SignedHeaders names " + quoteShort(n) + " twice"
		case i > 0 && names[i-1] > n:
			return "SignedHeaders is not sorted: " + quoteShort(names[i-1]) + " comes before " + quoteShort(n)
		}
	}
	return ""
}

// DiagnoseOptions give Diagnose what it judges a request against. Every
// field is optional; a check whose input is missing is skipped.
type DiagnoseOptions struct {
	// Now is the time to judge X-Amz-Date against: the server's Date when
	// known, else the local clock. Zero skips the expiry and skew checks.
	Now time.Time
	// MaxSkew is how far X-Amz-Date may be from Now; 0 means 15 minutes,
	// as AWS.
	MaxSkew time.Duration
	// Service and Region are what the target endpoint expects (from
	// sidecar/endpoint); they are compared with the credential scope.
	Service, Region string
}

// DiagnoseAuthorization lists every problem in an Authorization header and
// its X-Amz-Date (amzDate; "" skips the date checks) when the rest of the
// request is unknown. It has no side effects.
func DiagnoseAuthorization(authorization, amzDate string, opts DiagnoseOptions) []Problem {
	a, problems := ParseAuthorization(authorization)
	return append(problems, a.check(amzDate, nil, opts)...)
}

// DiagnoseRequest lists every problem with req's signature: its
// Authorization header (or presigned X-Amz-* query parameters), X-Amz-Date
// (or Date), and whether the headers SignedHeaders names are on the request
// (req.Host counts as host). It does not read the body and does not modify
// req.
func DiagnoseRequest(req *http.Request, opts DiagnoseOptions) []Problem {
	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	if host != "" {
		header.Set("Host", host)
	}
	var query url.Values
	if req.URL != nil {
		query, _ = url.ParseQuery(req.URL.RawQuery)
	}
	authz := header.Get("Authorization")
	if query.Get("X-Amz-Algorithm") != "" || query.Get("X-Amz-Signature") != "" {
		if authz != "" {
			return []Problem{problem(CodeMultipleAuth, "the request carries both an Authorization header and presigned X-Amz-* query parameters")}
		}
		return diagnosePresigned(query, header, opts)
	}
	if authz == "" {
		return []Problem{problem(CodeAuthorizationMissing, "the request has no Authorization header and no X-Amz-Signature query parameter")}
	}
	a, problems := ParseAuthorization(authz)
	date := header.Get("X-Amz-Date")
	if date == "" {
		if d := header.Get("Date"); d != "" {
			date = d
		} else {
			problems = append(problems, problem(CodeMissingDate, "the request has neither X-Amz-Date nor Date"))
		}
	}
	return append(problems, a.check(date, header, opts)...)
}

func diagnosePresigned(q url.Values, header http.Header, opts DiagnoseOptions) []Problem {
	var problems []Problem
	a := Authorization{Algorithm: q.Get("X-Amz-Algorithm"), Signature: q.Get("X-Amz-Signature")}
	switch {
	case a.Algorithm == "":
		problems = append(problems, problem(CodeUnsupportedAlgorithm, "the presigned URL has no X-Amz-Algorithm"))
	case a.Algorithm != Algorithm:
		problems = append(problems, problem(CodeUnsupportedAlgorithm, "X-Amz-Algorithm is "+quoteShort(a.Algorithm)+`, not "AWS4-HMAC-SHA256"`))
	}
	if c := q.Get("X-Amz-Credential"); c == "" {
		problems = append(problems, problem(CodeMissingCredential, "the presigned URL has no X-Amz-Credential"))
	} else {
		a.parseCredential(c)
		if msg := a.scopeProblem(); msg != "" {
			problems = append(problems, problem(CodeMalformedScope, msg))
		}
	}
	if sh := q.Get("X-Amz-SignedHeaders"); sh == "" {
		problems = append(problems, problem(CodeMissingSignedHeaders, "the presigned URL has no X-Amz-SignedHeaders"))
	} else {
		a.SignedHeaders = strings.Split(sh, ";")
		if msg := signedHeadersProblem(a.SignedHeaders); msg != "" {
			problems = append(problems, problem(CodeSignedHeadersOrder, msg))
		}
		if !a.Signs("host") {
			problems = append(problems, problem(CodeHostNotSigned, "host is not in X-Amz-SignedHeaders"))
		}
	}
	if a.Signature == "" {
		problems = append(problems, problem(CodeMissingSignature, "the presigned URL has no X-Amz-Signature"))
	} else if !isLowerHex(a.Signature, 64) {
		problems = append(problems, problem(CodeMalformedSignature, "X-Amz-Signature is "+strconv.Itoa(len(a.Signature))+" characters, not 64 lowercase hex digits"))
	}
	date := q.Get("X-Amz-Date")
	if date == "" {
		problems = append(problems, problem(CodeMissingDate, "the presigned URL has no X-Amz-Date"))
	}
	// A presigned URL lives from X-Amz-Date to X-Amz-Date + X-Amz-Expires;
	// the header check's symmetric skew window does not apply.
	presignOpts := opts
	presignOpts.Now = time.Time{}
	problems = append(problems, a.check(date, header, presignOpts)...)
	if t, err := time.Parse(amzDateLayout, date); err == nil && !opts.Now.IsZero() {
		expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err != nil || expires <= 0 {
			expires = 0
		}
		now := opts.Now.UTC()
		switch {
		case t.After(now.Add(maxSkew(opts))):
			problems = append(problems, problem(CodeSignatureNotYetValid, "X-Amz-Date "+date+" is "+roundDuration(t.Sub(now))+" after now ("+now.Format(amzDateLayout)+")"))
		case expires > 0 && now.After(t.Add(time.Duration(expires)*time.Second)):
			problems = append(problems, problem(CodeSignatureExpired, "the presigned URL expired at "+t.Add(time.Duration(expires)*time.Second).Format(amzDateLayout)+
				" (X-Amz-Date "+date+" + X-Amz-Expires "+strconv.Itoa(expires)+"s), "+roundDuration(now.Sub(t.Add(time.Duration(expires)*time.Second)))+" before now"))
		}
	}
	return problems
}

const amzDateLayout = "20060102T150405Z"

func maxSkew(opts DiagnoseOptions) time.Duration {
	if opts.MaxSkew > 0 {
		return opts.MaxSkew
	}
	return 15 * time.Minute
}

// check runs the checks that need more than the Authorization header: the
// date (amzDate "" skips them), the header set (nil skips them), the clock
// and the expected scope.
func (a Authorization) check(amzDate string, header http.Header, opts DiagnoseOptions) []Problem {
	var problems []Problem
	if amzDate != "" {
		t, err := time.Parse(amzDateLayout, amzDate)
		if err != nil {
			// A Date header (RFC 7231) is allowed in place of X-Amz-Date.
			if header != nil && header.Get("X-Amz-Date") == "" {
				if ht, herr := http.ParseTime(amzDate); herr == nil {
					t, err = ht.UTC(), nil
				}
			}
		}
		if err != nil {
			problems = append(problems, problem(CodeMalformedDate, "X-Amz-Date "+quoteShort(amzDate)+" is not ISO 8601 basic format (yyyyMMddTHHmmssZ)"))
		} else {
			if a.Date != "" && a.Date != t.Format("20060102") {
				problems = append(problems, problem(CodeDateScopeMismatch, "the credential scope's date "+a.Date+" is not X-Amz-Date's day "+t.Format("20060102")+" ("+amzDate+")"))
			}
			if !opts.Now.IsZero() {
				now := opts.Now.UTC()
				switch d := t.Sub(now); {
				case d < -maxSkew(opts):
					problems = append(problems, problem(CodeSignatureExpired, "X-Amz-Date "+t.Format(amzDateLayout)+" is "+roundDuration(-d)+" before now ("+now.Format(amzDateLayout)+"); AWS accepts "+roundDuration(maxSkew(opts))))
				case d > maxSkew(opts):
					problems = append(problems, problem(CodeSignatureNotYetValid, "X-Amz-Date "+t.Format(amzDateLayout)+" is "+roundDuration(d)+" after now ("+now.Format(amzDateLayout)+"): the signer's clock is ahead; AWS accepts "+roundDuration(maxSkew(opts))))
				}
			}
		}
	}
	if opts.Region != "" && a.Region != "" && a.Region != opts.Region {
		problems = append(problems, problem(CodeWrongRegion, "the credential scope's region is "+quoteShort(a.Region)+"; the endpoint expects "+quoteShort(opts.Region)))
	}
	if opts.Service != "" && a.Service != "" && a.Service != opts.Service {
		problems = append(problems, problem(CodeWrongService, "the credential scope's service is "+quoteShort(a.Service)+"; the endpoint expects "+quoteShort(opts.Service)))
	}
	if header == nil {
		return problems
	}
	var absent []string
	for _, name := range a.SignedHeaders {
		if name == "" || name == ":authority" {
			continue
		}
		if name == "x-amz-date" && header.Get("Date") == "" {
			continue // reported as missing-date
		}
		if _, ok := header[http.CanonicalHeaderKey(name)]; !ok {
			absent = append(absent, name)
		}
	}
	if len(absent) > 0 {
		problems = append(problems, problem(CodeSignedHeaderAbsent, "SignedHeaders lists "+strings.Join(absent, ", ")+", absent from the request"))
	}
	service := opts.Service
	if service == "" {
		service = a.Service
	}
	if IsS3Family(service) {
		var unsigned []string
		for name := range header {
			lower := strings.ToLower(name)
			if strings.HasPrefix(lower, "x-amz-") && !a.Signs(lower) {
				unsigned = append(unsigned, lower)
			}
		}
		if len(unsigned) > 0 {
			sortStrings(unsigned)
			problems = append(problems, problem(CodeAmzHeaderNotSigned, "x-amz-* headers present but not signed: "+strings.Join(unsigned, ", ")))
		}
		if header.Get("X-Amz-Content-Sha256") == "" && header.Get("Authorization") != "" {
			problems = append(problems, problem(CodeMissingContentSHA256, "an S3 request ("+service+") without X-Amz-Content-Sha256"))
		}
	}
	return problems
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isName reports whether s looks like a region or signing name: lower-case
// letters, digits, '-' and '.' (no spaces, no slashes).
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

// quoteShort quotes s for a message, cut to 80 bytes so a hostile header
// cannot flood a log line.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// redactSignatureLike hides a 64-hex-digit run (a signature) in s.
func redactSignatureLike(s string) string {
	out := []byte(s)
	run := 0
	for i := 0; i <= len(out); i++ {
		if i < len(out) && isHexByte(out[i]) {
			run++
			continue
		}
		if run >= 32 {
			for j := i - run; j < i; j++ {
				out[j] = '*'
			}
		}
		run = 0
	}
	return string(out)
}

func isHexByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// AWSError is what an error body from AWS or an S3-compatible server says:
// its code and message and, when the server returns them, the canonical
// request and string to sign it computed. Message may quote a signature:
// print SafeMessage instead.
type AWSError struct {
	Code    string
	Message string
	// CanonicalRequest and StringToSign are the server's, from S3-style
	// <CanonicalRequest>/<StringToSign> elements (or their *Bytes hex
	// forms), or from the "should have been" text of AWS query and JSON APIs.
	CanonicalRequest string
	StringToSign     string
	AccessKeyID      string
	RequestID        string
}

// ParseAWSError reads an XML (<Error><Code>, <ErrorResponse><Error><Code>)
// or JSON (__type/code, message) error body. A body cut short, as a bounded
// prefix may be, yields what was read before the cut. It reports false when
// the body holds no error code or message at all.
func ParseAWSError(body []byte) (AWSError, bool) {
	var e AWSError
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return e, false
	case trimmed[0] == '{':
		e = parseJSONError(trimmed)
	case trimmed[0] == '<':
		e = parseXMLError(trimmed)
	default:
		return e, false
	}
	if e.CanonicalRequest == "" || e.StringToSign == "" {
		cr, sts := shouldHaveBeen(e.Message)
		if e.CanonicalRequest == "" {
			e.CanonicalRequest = cr
		}
		if e.StringToSign == "" {
			e.StringToSign = sts
		}
	}
	return e, e.Code != "" || e.Message != ""
}

func parseXMLError(body []byte) AWSError {
	var e AWSError
	var crBytes, stsBytes string
	fields := map[string]*string{
		"Code": &e.Code, "Message": &e.Message,
		"CanonicalRequest": &e.CanonicalRequest, "StringToSign": &e.StringToSign,
		"CanonicalRequestBytes": &crBytes, "StringToSignBytes": &stsBytes,
		"AWSAccessKeyId": &e.AccessKeyID, "RequestId": &e.RequestID, "RequestID": &e.RequestID,
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	var current *string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			current = nil
			if p, ok := fields[t.Name.Local]; ok && *p == "" {
				current = p
				text.Reset()
			}
		case xml.CharData:
			if current != nil {
				text.Write(t)
			}
		case xml.EndElement:
			if current != nil {
				*current = text.String()
				current = nil
			}
		}
	}
	if e.CanonicalRequest == "" {
		e.CanonicalRequest = fromHexBytes(crBytes)
	}
	if e.StringToSign == "" {
		e.StringToSign = fromHexBytes(stsBytes)
	}
	e.Code = strings.TrimSpace(e.Code)
	e.Message = strings.TrimSpace(e.Message)
	return e
}

func parseJSONError(body []byte) AWSError {
	var e AWSError
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return e
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	// "__type": "com.amazon.coral.service#InvalidSignatureException" or
	// "InvalidSignatureException:http://internal.amazon.com/coral/..."
	code := str("__type", "code", "Code", "errorType")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	e.Code = strings.TrimSpace(code)
	e.Message = strings.TrimSpace(str("message", "Message", "errorMessage"))
	return e
}

// fromHexBytes decodes S3's "41 57 53 34 ..." byte dumps.
func fromHexBytes(s string) string {
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(b)
}

// shouldHaveBeen extracts the canonical request and string to sign that AWS
// query and JSON APIs quote in a SignatureDoesNotMatch message:
//
//	The Canonical String for this request should have been
//	'POST
//	/
//	...'
//
//	The String-to-Sign should have been
//	'AWS4-HMAC-SHA256
//	...'
func shouldHaveBeen(msg string) (canonical, stringToSign string) {
	const crMark = "The Canonical String for this request should have been\n'"
	const stsMark = "The String-to-Sign should have been\n'"
	if i := strings.Index(msg, crMark); i >= 0 {
		rest := msg[i+len(crMark):]
		end := strings.Index(rest, "'\n\nThe String-to-Sign")
		if end < 0 {
			end = strings.LastIndexByte(rest, '\'')
		}
		if end >= 0 {
			canonical = rest[:end]
		}
	}
	if i := strings.Index(msg, stsMark); i >= 0 {
		rest := msg[i+len(stsMark):]
		if end := strings.LastIndexByte(rest, '\''); end >= 0 {
			stringToSign = rest[:end]
		}
	}
	return canonical, stringToSign
}

// SafeMessage is Message with anything that looks like a signature and any
// quoted canonical request cut out, fit for a log line.
func (e AWSError) SafeMessage() string {
	msg := e.Message
	if i := strings.Index(msg, "The Canonical String for this request"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " (canonical request and string to sign quoted by the server: see the diff)"
	} else if i := strings.Index(msg, "The String-to-Sign should have been"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " (string to sign quoted by the server)"
	}
	return redactAuthorizationText(msg)
}

// redactAuthorizationText hides signature and token values in text an
// error body quotes from the request.
func redactAuthorizationText(s string) string {
	for _, key := range []string{"Signature=", "X-Amz-Signature=", "X-Amz-Security-Token=", "x-amz-security-token:", "x-amz-security-token="} {
		var b strings.Builder
		rest := s
		for {
			i := strings.Index(rest, key)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:i+len(key)])
			rest = rest[i+len(key):]
			end := strings.IndexAny(rest, ", &'\"\n<")
			if end < 0 {
				end = len(rest)
			}
			if end > 0 {
				b.WriteString("<redacted>")
			}
			rest = rest[end:]
		}
		s = b.String()
	}
	return s
}

// IsSignatureError reports whether code is one of the errors AWS answers
// when it rejects a signature (issue 8): SignatureDoesNotMatch,
// InvalidSignatureException, IncompleteSignature(Exception) and
// AuthorizationHeaderMalformed.
func IsSignatureError(code string) bool {
	switch code {
	case "SignatureDoesNotMatch", "InvalidSignatureException", "InvalidSignature",
		"IncompleteSignature", "IncompleteSignatureException", "AuthorizationHeaderMalformed":
		return true
	}
	return false
}

// messageRules map fragments of AWS error messages (lower-cased) to causes.
var messageRules = []struct {
	fragment string
	code     ProblemCode
}{
	{"requires 'credential'", CodeMissingCredential},
	{"requires 'signedheaders'", CodeMissingSignedHeaders},
	{"requires 'signature'", CodeMissingSignature},
	{"requires existence of either a 'x-amz-date' or a 'date' header", CodeMissingDate},
	{"missing equal-sign", CodeMalformedComponent},
	{"invalid key=value pair", CodeMalformedComponent},
	{"unsupported aws 'algorithm'", CodeUnsupportedAlgorithm},
	{"algorithm is not supported", CodeUnsupportedAlgorithm},
	{"please use aws4-hmac-sha256", CodeSignatureV2},
	{"signature version 2", CodeSignatureV2},
	{"credential should be scoped to a valid region", CodeWrongRegion},
	{"is wrong; expecting", CodeWrongRegion},
	{"credential should be scoped to correct service", CodeWrongService},
	{"incorrect service", CodeWrongService},
	{"credential should be scoped with a valid terminator", CodeMalformedScope},
	{"credential is mal-formed", CodeMalformedScope},
	{"credential is malformed", CodeMalformedScope},
	{"date must be in iso-8601 'basic format'", CodeMalformedDate},
	{"invalid credential date", CodeDateScopeMismatch},
	{"date is not the same as x-amz-date", CodeDateScopeMismatch},
	{"credential should be scoped to a valid date", CodeDateScopeMismatch},
	{"must be a 'signedheader'", CodeHostNotSigned},
	{"signature expired", CodeSignatureExpired},
	{"request has expired", CodeSignatureExpired},
	{"signature not yet current", CodeSignatureNotYetValid},
	{"difference between the request time and the current time is too large", CodeClockSkew},
	{"headers present in the request which were not signed", CodeAmzHeaderNotSigned},
	{"missing required header for this request: x-amz-content-sha256", CodeMissingContentSHA256},
	{"x-amz-content-sha256' header does not match", CodePayloadHashMismatch},
	{"only one auth mechanism allowed", CodeMultipleAuth},
	{"missing authentication token", CodeAuthorizationMissing},
	{"security token included in the request is expired", CodeExpiredToken},
	{"security token included in the request is invalid", CodeUnknownAccessKey},
	{"access key id you provided does not exist", CodeUnknownAccessKey},
	{"signature we calculated does not match", CodeSignatureMismatch},
}

// codeRules map AWS error codes to causes when the message says no more.
var codeRules = map[string]ProblemCode{
	"RequestTimeTooSkewed":                CodeClockSkew,
	"RequestExpired":                      CodeSignatureExpired,
	"InvalidAccessKeyId":                  CodeUnknownAccessKey,
	"UnrecognizedClientException":         CodeUnknownAccessKey,
	"InvalidClientTokenId":                CodeUnknownAccessKey,
	"ExpiredToken":                        CodeExpiredToken,
	"ExpiredTokenException":               CodeExpiredToken,
	"MissingAuthenticationToken":          CodeAuthorizationMissing,
	"MissingAuthenticationTokenException": CodeAuthorizationMissing,
	"XAmzContentSHA256Mismatch":           CodePayloadHashMismatch,
	"SignatureDoesNotMatch":               CodeSignatureMismatch,
	"InvalidSignatureException":           CodeSignatureMismatch,
	"InvalidSignature":                    CodeSignatureMismatch,
	"IncompleteSignature":                 CodeMalformedAuthorization,
	"IncompleteSignatureException":        CodeMalformedAuthorization,
	"AuthorizationHeaderMalformed":        CodeMalformedAuthorization,
	"AccessDenied":                        CodeAccessDenied,
	"AccessDeniedException":               CodeAccessDenied,
	"UnauthorizedOperation":               CodeAccessDenied,
}

// Problems classifies the error into causes: one per cause its message
// names, else one for its code. A generic signature-mismatch is dropped
// when a more specific cause was found. It returns nil for errors that are
// not about authentication.
func (e AWSError) Problems() []Problem {
	msg := strings.ToLower(e.Message)
	var problems []Problem
	seen := map[ProblemCode]bool{}
	add := func(code ProblemCode, message string) {
		if code == "" || seen[code] {
			return
		}
		seen[code] = true
		problems = append(problems, problem(code, message))
	}
	said := "the server answered " + e.Code
	if e.Code == "" {
		said = "the server answered"
	}
	if m := e.SafeMessage(); m != "" {
		said += ": " + quoteShort(firstLine(m))
	}
	for _, r := range messageRules {
		if strings.Contains(msg, r.fragment) {
			add(r.code, said)
		}
	}
	if len(problems) == 0 {
		add(codeRules[e.Code], said)
	}
	if len(problems) > 1 && seen[CodeSignatureMismatch] {
		out := problems[:0]
		for _, p := range problems {
			if p.Code != CodeSignatureMismatch {
				out = append(out, p)
			}
		}
		problems = out
	}
	return problems
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// DiffLine is one line of a line-by-line diff: Op is ' ' (both), '-' (the
// server's only) or '+' (ours only).
type DiffLine struct {
	Op   byte
	Text string
}

// Comparison is what CompareWithServer found.
type Comparison struct {
	// Diff is the server's canonical request (-) against ours (+), session
	// tokens and signatures redacted; nil when either side is unknown.
	Diff []DiffLine
	// Part names the first differing part of the canonical request:
	// "method", "path", "query", "header <name>", "signed headers",
	// "payload hash", or "" when none differs or either side is unknown.
	Part string
	// Problems holds what the differences mean.
	Problems []Problem
}

// FormatDiff renders d with "- " for the server's lines, "+ " for ours and
// "  " for lines both share, one per line.
func FormatDiff(d []DiffLine) string {
	var b strings.Builder
	for _, l := range d {
		b.WriteByte(l.Op)
		b.WriteByte(' ')
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// CompareWithServer compares what we signed (ours, from signing with
// Options.Debug) with the canonical request and string to sign the server
// computed (from its error body), names the first part that differs and
// what it means. A server that computed our very string to sign yet
// rejected the signature was given another secret: wrong-secret.
func CompareWithServer(ours Result, server AWSError) Comparison {
	var c Comparison
	canonicalKnown := ours.CanonicalRequest != "" && server.CanonicalRequest != ""
	if canonicalKnown && ours.CanonicalRequest != server.CanonicalRequest {
		c.Diff = diffLines(splitRedacted(server.CanonicalRequest), splitRedacted(ours.CanonicalRequest))
		var p Problem
		c.Part, p = firstDifference(server.CanonicalRequest, ours.CanonicalRequest)
		c.Problems = append(c.Problems, p)
	}
	if ours.StringToSign == "" || server.StringToSign == "" {
		return c
	}
	if ours.StringToSign == server.StringToSign {
		if !canonicalKnown || ours.CanonicalRequest == server.CanonicalRequest {
			c.Problems = append(c.Problems, problem(CodeWrongSecret, "the server computed the same string to sign as ours and still rejected the signature"))
		}
		return c
	}
	sl, ol := strings.Split(server.StringToSign, "\n"), strings.Split(ours.StringToSign, "\n")
	line := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return ""
	}
	if line(sl, 1) != line(ol, 1) {
		c.Problems = append(c.Problems, problem(CodeTimestampDiffers, "the server's timestamp is "+quoteShort(line(sl, 1))+", ours "+quoteShort(line(ol, 1))))
	}
	theirs, ourScope := strings.Split(line(sl, 2), "/"), strings.Split(line(ol, 2), "/")
	if len(theirs) == 4 && len(ourScope) == 4 {
		if theirs[0] != ourScope[0] {
			c.Problems = append(c.Problems, problem(CodeDateScopeMismatch, "the server's scope date is "+theirs[0]+", ours "+ourScope[0]))
		}
		if theirs[1] != ourScope[1] {
			c.Problems = append(c.Problems, problem(CodeWrongRegion, "the server signs for region "+quoteShort(theirs[1])+", we signed for "+quoteShort(ourScope[1])))
		}
		if theirs[2] != ourScope[2] {
			c.Problems = append(c.Problems, problem(CodeWrongService, "the server signs for service "+quoteShort(theirs[2])+", we signed for "+quoteShort(ourScope[2])))
		}
	}
	if line(sl, 3) != line(ol, 3) && !canonicalKnown {
		c.Problems = append(c.Problems, problem(CodeCanonicalDiffers, "the hash of the server's canonical request differs from ours"))
	}
	return c
}

// canonicalParts is a canonical request cut into its parts.
type canonicalParts struct {
	method, path, query string
	headers             []string // "name:value" lines
	signedHeaders       string
	payloadHash         string
}

func parseCanonical(s string) (canonicalParts, bool) {
	l := strings.Split(s, "\n")
	if len(l) < 6 || l[len(l)-3] != "" {
		return canonicalParts{}, false
	}
	return canonicalParts{
		method: l[0], path: l[1], query: l[2],
		headers:       l[3 : len(l)-3],
		signedHeaders: l[len(l)-2],
		payloadHash:   l[len(l)-1],
	}, true
}

// firstDifference names the first part in which the server's canonical
// request differs from ours, in the order the parts appear.
func firstDifference(server, ours string) (string, Problem) {
	s, sok := parseCanonical(server)
	o, ook := parseCanonical(ours)
	if !sok || !ook {
		sl, ol := strings.Split(server, "\n"), strings.Split(ours, "\n")
		n := 0
		for n < len(sl) && n < len(ol) && sl[n] == ol[n] {
			n++
		}
		return "line " + strconv.Itoa(n+1), problem(CodeCanonicalDiffers, "the canonical requests first differ at line "+strconv.Itoa(n+1))
	}
	differs := func(what, theirs, mine string) string {
		return "the " + what + " differs: the server has " + quoteShort(theirs) + ", we signed " + quoteShort(mine)
	}
	switch {
	case s.method != o.method:
		return "method", problem(CodeMethodDiffers, differs("method", s.method, o.method))
	case s.path != o.path:
		return "path", problem(CodePathDiffers, differs("canonical URI", s.path, o.path))
	case s.query != o.query:
		return "query", problem(CodeQueryDiffers, differs("canonical query string", redactQuery(s.query), redactQuery(o.query)))
	}
	sh, oh := headerMap(s.headers), headerMap(o.headers)
	names := make([]string, 0, len(sh)+len(oh))
	for n := range sh {
		names = append(names, n)
	}
	for n := range oh {
		if _, ok := sh[n]; !ok {
			names = append(names, n)
		}
	}
	sortStrings(names)
	for _, n := range names {
		sv, sIn := sh[n]
		ov, oIn := oh[n]
		switch {
		case !sIn:
			return "header " + n, problem(CodeHeaderDiffers, "we signed header "+n+"; the server's canonical request does not have it")
		case !oIn:
			return "header " + n, problem(CodeHeaderDiffers, "the server's canonical request has header "+n+", which we did not sign")
		case sv != ov:
			return "header " + n, problem(CodeHeaderDiffers, "header "+n+" differs: the server has "+quoteShort(redactHeaderValue(n, sv))+", we signed "+quoteShort(redactHeaderValue(n, ov)))
		}
	}
	switch {
	case s.signedHeaders != o.signedHeaders:
		return "signed headers", problem(CodeSignedHeadersDiffer, differs("signed headers list", s.signedHeaders, o.signedHeaders))
	case s.payloadHash != o.payloadHash:
		return "payload hash", problem(CodePayloadHashDiffers, differs("payload hash", s.payloadHash, o.payloadHash))
	}
	return "", problem(CodeCanonicalDiffers, "the canonical requests differ in white space only")
}

func headerMap(lines []string) map[string]string {
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		if _, dup := m[name]; !dup {
			m[name] = value
		}
	}
	return m
}

// splitRedacted splits a canonical request into lines with the session
// token's value and presigned signatures hidden; a short fingerprint of a
// hidden value still shows whether the two sides hold the same one.
func splitRedacted(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if name, value, ok := strings.Cut(l, ":"); ok && name == "x-amz-security-token" {
			lines[i] = name + ":" + redactHeaderValue(name, value)
		}
		if i == 2 {
			lines[i] = redactQuery(l)
		}
	}
	return lines
}

func redactHeaderValue(name, value string) string {
	if name != "x-amz-security-token" {
		return value
	}
	return fingerprint(value)
}

func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "<redacted " + hex.EncodeToString(sum[:2]) + ">"
}

func redactQuery(q string) string {
	if !strings.Contains(q, "X-Amz-Signature=") && !strings.Contains(q, "X-Amz-Security-Token=") {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if k == "X-Amz-Signature" || k == "X-Amz-Security-Token" {
			parts[i] = k + "=" + fingerprint(v)
		}
	}
	return strings.Join(parts, "&")
}

// maxDiffCells bounds the LCS table; beyond it the diff pairs lines by position.
const maxDiffCells = 1 << 20

// diffLines is a longest-common-subsequence line diff of a (-) against b (+).
func diffLines(a, b []string) []DiffLine {
	if len(a)*len(b) > maxDiffCells {
		var d []DiffLine
		for i := 0; i < len(a) || i < len(b); i++ {
			switch {
			case i < len(a) && i < len(b) && a[i] == b[i]:
				d = append(d, DiffLine{' ', a[i]})
			default:
				if i < len(a) {
					d = append(d, DiffLine{'-', a[i]})
				}
				if i < len(b) {
					d = append(d, DiffLine{'+', b[i]})
				}
			}
		}
		return d
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	w := len(b) + 1
	lcs := make([]int, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	var d []DiffLine
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			d = append(d, DiffLine{' ', a[i]})
			i++
			j++
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			d = append(d, DiffLine{'-', a[i]})
			i++
		default:
			d = append(d, DiffLine{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		d = append(d, DiffLine{'-', a[i]})
	}
	for ; j < len(b); j++ {
		d = append(d, DiffLine{'+', b[j]})
	}
	return d
}

// RedactCanonicalRequest hides the session token's value and presigned
// signatures in a canonical request, leaving a short fingerprint, so that
// it can be logged.
func RedactCanonicalRequest(s string) string {
	return strings.Join(splitRedacted(s), "\n")
}

// Recompute returns the canonical request and string to sign behind a
// request already signed in its headers: the scope and signed headers of
// its Authorization header, its X-Amz-Date, and payloadHash ("" takes
// X-Amz-Content-Sha256, else the empty-body hash). Neither depends on the
// secret, so no credentials are needed. It does not modify req or read its
// body. Safe for concurrent use.
func (s *Signer) Recompute(req *http.Request, payloadHash string) (Result, error) {
	a, _ := ParseAuthorization(req.Header.Get("Authorization"))
	if a.AccessKeyID == "" || a.Service == "" || a.Region == "" || len(a.SignedHeaders) == 0 {
		return Result{}, errField("authorization", "no parsable credential scope and signed headers")
	}
	t, err := time.Parse(amzDateLayout, req.Header.Get("X-Amz-Date"))
	if err != nil {
		return Result{}, errField("time", "no ISO 8601 basic X-Amz-Date")
	}
	if payloadHash == "" {
		payloadHash = req.Header.Get("X-Amz-Content-Sha256")
	}
	if payloadHash == "" {
		payloadHash = EmptyPayloadHash
	}
	clone := req.Clone(req.Context())
	clone.Header.Del("Authorization")
	if clone.URL.Host == "" {
		clone.URL.Host = clone.Host
	}
	if a.Signs("content-length") && clone.ContentLength <= 0 {
		if n, err := strconv.ParseInt(req.Header.Get("Content-Length"), 10, 64); err == nil {
			clone.ContentLength = n
		}
	}
	keys := Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: "recompute", SessionToken: req.Header.Get("X-Amz-Security-Token")}
	return s.Sign(clone, keys, Options{
		Service: a.Service, Region: a.Region, Time: t, PayloadHash: payloadHash, Debug: true,
		UnsignedHeaders: func(name string) bool { return !a.Signs(name) },
	})
}

// MergeProblems joins problem lists in order, keeping the first problem of
// each code, and drops the generic codes (signature-mismatch,
// malformed-authorization) once a more specific cause is known.
func MergeProblems(lists ...[]Problem) []Problem {
	generic := func(c ProblemCode) bool { return c == CodeSignatureMismatch || c == CodeMalformedAuthorization }
	specific := false
	for _, l := range lists {
		for _, p := range l {
			if !generic(p.Code) && p.Code != CodeCanonicalDiffers {
				specific = true
			}
		}
	}
	seen := map[ProblemCode]bool{}
	var out []Problem
	for _, l := range lists {
		for _, p := range l {
			if seen[p.Code] || (specific && generic(p.Code)) {
				continue
			}
			seen[p.Code] = true
			out = append(out, p)
		}
	}
	return out
}
