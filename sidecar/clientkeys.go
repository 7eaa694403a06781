package sidecar

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// An app that uses an AWS SDK signs its requests itself. With
// --client-keys-file it signs them with a local key pair the operator gave
// it, worth nothing at AWS; the proxy verifies that signature (signer.Verify:
// scope, date window, signed headers, payload hash), takes the key's NAME as
// the client, and signs the request again with its real credentials. The
// client's Authorization, X-Amz-Date, X-Amz-Security-Token and presign
// parameters never leave (ownAuthHeaders, stripPresignParams). A request
// whose signature does not verify is answered by the proxy in the form the
// SDK parses for its protocol (ClientSignatureError), and nothing is
// forwarded.

// clientSignature is what the proxy verified of a request signed with a
// client key, carried in the exchange for the route and the signer.
type clientSignature struct {
	// service and region are the verified credential scope's; region is
	// "" for SigV4a, whose scope has none.
	service, region string
	// signed holds the lowercase names of the headers the client signed.
	signed map[string]bool
	// declared is the client's X-Amz-Content-Sha256, "" when it sent none.
	declared string
	// bucket is the S3 bucket named by a virtual-host-style Host under
	// the proxy's own name (bucket.localhost:PORT), put in front of the
	// path when the request goes to S3's endpoint (route.go).
	bucket string
	// shape is the error document the client's SDK reads.
	shape errorShape
}

// Proxy codes of the client-signature refusals, in ErrorHeader; the body
// carries AWS's code for the SDK.
const (
	CodeClientKeyUnknown       = "client_key_unknown"       // 403: the access key id is not in --client-keys-file
	CodeClientSignatureInvalid = "client_signature_invalid" // 403 or 400: the client's signature does not verify
	CodeClientSignatureExpired = "client_signature_expired" // outside the date window
)

// ClientSignatureError is a request signed with a client key (or claiming
// to be) that the proxy refuses: Code is the proxy's code, AWSCode and
// Status what AWS would answer, Message says what was wrong (never a
// secret, a derived key or the expected signature). Shape is how the
// answer is written so that the client's SDK reads it.
type ClientSignatureError struct {
	Status         int
	Code, AWSCode  string
	Message        string
	Shape          errorShape
	AccessKeyID    string // for S3's InvalidAccessKeyId answer; not a secret
	RequestExpired bool
}

func (e *ClientSignatureError) Error() string { return e.AWSCode + ": " + e.Message }

// errorShape is the error document an AWS protocol's clients parse.
type errorShape uint8

const (
	shapeQuery errorShape = iota // <ErrorResponse><Error><Code> (awsQuery: STS, SQS, IAM, ...)
	shapeS3                      // <Error><Code> (restXml, S3)
	shapeEC2                     // <Response><Errors><Error><Code> (ec2Query)
	shapeJSON                    // {"__type": ...} and X-Amzn-ErrorType (awsJson, restJson)
)

// shapeFor tells which error document the client of r reads: S3's for the
// S3 family, EC2's for ec2, JSON for a request whose body is JSON (awsJson
// with X-Amz-Target, restJson), the query protocol's otherwise.
func shapeFor(r *http.Request, service string) errorShape {
	switch {
	case signer.IsS3Family(service):
		return shapeS3
	case service == "ec2":
		return shapeEC2
	case r.Header.Get("X-Amz-Target") != "":
		return shapeJSON
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/x-amz-json") || strings.HasPrefix(ct, "application/json") {
		return shapeJSON
	}
	return shapeQuery
}

// writeClientSignatureError writes e as AWS would, with ErrorHeader set to
// the proxy's code.
func writeClientSignatureError(w http.ResponseWriter, e *ClientSignatureError) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set(ErrorHeader, e.Code)
	h.Set("Cache-Control", "no-store")
	type xmlError struct {
		Type        string `xml:"Type,omitempty"`
		Code        string `xml:"Code"`
		Message     string `xml:"Message"`
		AccessKeyID string `xml:"AWSAccessKeyId,omitempty"`
	}
	var body []byte
	switch e.Shape {
	case shapeJSON:
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("X-Amzn-ErrorType", e.AWSCode)
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.AWSCode, e.Message})
	case shapeS3:
		h.Set("Content-Type", "application/xml")
		body, _ = xml.Marshal(struct {
			XMLName xml.Name `xml:"Error"`
			xmlError
		}{xmlError: xmlError{Code: e.AWSCode, Message: e.Message, AccessKeyID: e.AccessKeyID}})
	case shapeEC2:
		h.Set("Content-Type", "text/xml")
		body, _ = xml.Marshal(struct {
			XMLName xml.Name `xml:"Response"`
			Errors  struct {
				Error xmlError `xml:"Error"`
			} `xml:"Errors"`
		}{Errors: struct {
			Error xmlError `xml:"Error"`
		}{xmlError{Code: e.AWSCode, Message: e.Message}}})
	default:
		h.Set("Content-Type", "text/xml")
		body, _ = xml.Marshal(struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Error   xmlError `xml:"Error"`
		}{Error: xmlError{Type: "Sender", Code: e.AWSCode, Message: e.Message}})
	}
	if e.Shape != shapeJSON {
		body = append([]byte(xml.Header), body...)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// isClientSigned reports whether r carries a SigV4 or SigV4a signature
// (header or presigned query) for the client-keys check. A Bearer
// Authorization is a token, not a signature.
func isClientSigned(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		return strings.HasPrefix(a, "AWS4-")
	}
	q := r.URL.Query()
	return q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm")
}

// claimedAuthorization reads what r says about its own signature, before
// anything is verified: the access key id (to refuse an unknown key before
// the body is read) and the scope's service (to answer in the shape the
// client's SDK reads).
func claimedAuthorization(r *http.Request) (signer.Authorization, bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		parsed, _ := signer.ParseAuthorization(a)
		return parsed, false
	}
	parsed, _ := signer.ParsePresigned(r.URL.Query())
	return parsed, true
}

// verifyClientKey verifies the signature of r, signed with a client key of
// keys, and returns its client and what was verified. A body whose hash
// must be known (one with no X-Amz-Content-Sha256, or a hex one the body
// must match) is spooled into x.spool within --body-memory and the spool
// limits, and r.Body replaced with a reader of it; a signed aws-chunked body
// is replaced with a reader that verifies every chunk signature as it
// streams (signer.VerifyStreaming). The error is a *ClientSignatureError,
// or the spool's own error (a body too large, a spool failure).
func (p *Proxy) verifyClientKey(r *http.Request, x *exchange, keys *listen.ClientKeys) (listen.Client, *clientSignature, error) {
	claimed, presigned := claimedAuthorization(r)
	service := claimed.Service
	if service == "" {
		if e, err := endpoint.Resolve(r.Host); err == nil {
			service = e.SigningName
		}
	}
	shape := shapeFor(r, service)
	refuse := func(status int, code, awsCode, message string) (listen.Client, *clientSignature, error) {
		return listen.Client{}, nil, &ClientSignatureError{Status: status, Code: code, AWSCode: awsCode, Message: message, Shape: shape}
	}
	_, name, known := keys.Lookup(claimed.AccessKeyID)
	if claimed.AccessKeyID != "" && !known {
		return listen.Client{}, nil, unknownKeyRefusal(claimed.AccessKeyID, shape)
	}
	declared := r.Header.Get("X-Amz-Content-Sha256")
	hexDeclared := len(declared) == 64 && isLowerHex(declared)
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if declared != "" && !hexDeclared && declared != signer.UnsignedPayload && !strings.HasPrefix(declared, "STREAMING-") {
		// Signed as it is, it would say nothing of the body the proxy
		// then signs: refused, as S3 refuses it.
		return refuse(http.StatusBadRequest, CodeClientSignatureInvalid, "InvalidArgument",
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- form, or the lowercase hex SHA-256 of the body")
	}
	if hexDeclared && !hasBody && declared != signer.EmptyPayloadHash {
		return refuse(http.StatusBadRequest, CodeClientSignatureInvalid, "XAmzContentSHA256Mismatch",
			"The provided 'x-amz-content-sha256' header does not match what was computed (sigv4-sidecar: the body is empty).")
	}
	opts := signer.VerifyOptions{Now: time.Now()}
	// The body is read before the signature is checked only when the
	// signature covers its hash and the client did not declare it.
	if hasBody && declared == "" && !presigned {
		if err := p.spoolClientBody(r, x); err != nil {
			return listen.Client{}, nil, err
		}
		opts.PayloadHash = x.spool.Sum()
	}
	lookup := func(id string) (signer.Credentials, bool) {
		secret, _, ok := keys.Lookup(id)
		return signer.Credentials{AccessKeyID: id, SecretAccessKey: secret}, ok
	}
	var res signer.Result
	var err error
	if declared == signer.StreamingPayload || declared == signer.StreamingPayloadTrailer {
		res, err = p.verifier().VerifyStreaming(r, lookup, opts)
	} else {
		res, err = p.verifier().Verify(r, lookup, opts)
	}
	if err != nil {
		var ve *signer.VerifyError
		if !errors.As(err, &ve) {
			return refuse(http.StatusBadRequest, CodeClientSignatureInvalid, "IncompleteSignature", err.Error())
		}
		e := verifyRefusal(ve, shape, presigned)
		return listen.Client{}, nil, e
	}
	if hasBody && (hexDeclared || declared == "" && presigned) && x.spool == nil {
		if err := p.spoolClientBody(r, x); err != nil {
			return listen.Client{}, nil, err
		}
		if hexDeclared && x.spool.Sum() != declared {
			return refuse(http.StatusBadRequest, CodeClientSignatureInvalid, "XAmzContentSHA256Mismatch",
				"The provided 'x-amz-content-sha256' header does not match what was computed (sigv4-sidecar: the body hashes to "+x.spool.Sum()+").")
		}
	}
	sig := &clientSignature{declared: declared, signed: map[string]bool{}, shape: shape}
	switch parts := strings.Split(res.Scope, "/"); len(parts) {
	case 4: // date/region/service/aws4_request
		sig.region, sig.service = parts[1], parts[2]
	case 3: // SigV4a: date/service/aws4_request
		sig.service = parts[1]
	}
	for _, n := range strings.Split(res.SignedHeaders, ";") {
		sig.signed[n] = true
	}
	// A token meant for the proxy is never forwarded, whichever way the
	// client authenticated.
	r.Header.Del("Proxy-Authorization")
	return listen.Client{Name: name, Via: listen.ViaClientKey}, sig, nil
}

// unknownKeyRefusal is the answer to a signature made with an access key
// id the client-keys file does not hold, as AWS answers an unknown key.
func unknownKeyRefusal(accessKeyID string, shape errorShape) *ClientSignatureError {
	if shape == shapeS3 {
		return &ClientSignatureError{Status: http.StatusForbidden, Code: CodeClientKeyUnknown, AWSCode: "InvalidAccessKeyId", Shape: shape, AccessKeyID: accessKeyID,
			Message: "The AWS Access Key Id you provided does not exist in our records (sigv4-sidecar: it is not in --client-keys-file)."}
	}
	return &ClientSignatureError{Status: http.StatusForbidden, Code: CodeClientKeyUnknown, AWSCode: "InvalidClientTokenId", Shape: shape,
		Message: "The security token included in the request is invalid (sigv4-sidecar: access key id " + accessKeyID + " is not in --client-keys-file)."}
}

// clientKeysKey carries, from the Router to the route's Proxy, the client
// keys a request's claimed client must be verified with.
type clientKeysKey struct{}

// claimClientKey is what the Router knows of a request signed with a client
// key before any route is picked: the client its access key id names, and
// the host to match routes with (the AWS endpoint of the claimed scope when
// its Host names none, as the route's Proxy will send it: clientTarget).
// Nothing is verified yet: the request carries keys in its context, and the
// route's Proxy verifies the signature with them (verifyClientKey) before
// anything is forwarded, so a claim can only pick a route, never pass it.
// An unknown key is refused here, as verifyClientKey refuses it.
func claimClientKey(r *http.Request, keys *listen.ClientKeys) (*http.Request, listen.Client, string, error) {
	claimed, _ := claimedAuthorization(r)
	_, name, known := keys.Lookup(claimed.AccessKeyID)
	if !known {
		if claimed.AccessKeyID == "" {
			return r, listen.Client{}, "", &listen.UnauthenticatedError{Reason: "the request's SigV4 signature names no access key id"}
		}
		return r, listen.Client{}, "", unknownKeyRefusal(claimed.AccessKeyID, shapeFor(r, claimed.Service))
	}
	host := r.Host
	hostOnly := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostOnly = h
	}
	if _, err := endpoint.Resolve(hostOnly); err != nil && claimed.Region != "" {
		if target, err := endpoint.HostFor(claimed.Service, claimed.Region); err == nil {
			host = target
		}
	}
	client := listen.Client{Name: name, Via: listen.ViaClientKey}
	ctx := context.WithValue(listen.WithClient(r.Context(), client), clientKeysKey{}, keys)
	return r.WithContext(ctx), client, host, nil
}

// claimedClientKeys returns the keys the Router left for the request's
// claimed client to be verified with; nil when the Router claimed none.
func claimedClientKeys(ctx context.Context) *listen.ClientKeys {
	keys, _ := ctx.Value(clientKeysKey{}).(*listen.ClientKeys)
	return keys
}

// verifier is the signer that verifies client signatures: the proxy's
// own, whose derived-key cache holds the client keys' too (keyed by
// secret, so a key rotated in the file derives afresh).
func (p *Proxy) verifier() *signer.Signer { return p.signer.Signer }

// spoolClientBody reads r's body into x.spool (bounded memory, then a
// file, within the spool limits) and puts a replayable reader of it in
// r.Body, which the signer recognises and does not spool again.
func (p *Proxy) spoolClientBody(r *http.Request, x *exchange) error {
	cfg := p.c.cfg
	if r.ContentLength > int64(cfg.MaxBody) {
		closeBody(r)
		return &body.TooLargeError{Limit: int64(cfg.MaxBody)}
	}
	sp, err := body.NewSpool(r.Body, r.ContentLength, body.Limits{Memory: int64(cfg.BodyMemory), Max: int64(cfg.MaxBody), Dir: cfg.SpoolDir,
		MemoryTotal: p.c.bodyBudget, DiskTotal: p.c.spoolBudget})
	closeBody(r)
	if err != nil {
		return err
	}
	x.spool = sp
	r.Body, r.ContentLength = sp.Reader(), sp.Size()
	r.TransferEncoding = nil
	return nil
}

// verifyRefusal is what the proxy answers for a signature Verify rejected,
// as AWS answers for that reason in that protocol.
func verifyRefusal(ve *signer.VerifyError, shape errorShape, presigned bool) *ClientSignatureError {
	s3 := shape == shapeS3
	e := &ClientSignatureError{Shape: shape, Message: "sigv4-sidecar: " + ve.Error()}
	switch ve.Reason {
	case signer.ReasonSignatureMismatch, signer.ReasonScopeMismatch, signer.ReasonUnknownKey:
		e.Status, e.Code, e.AWSCode = http.StatusForbidden, CodeClientSignatureInvalid, "SignatureDoesNotMatch"
		e.Message = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. (" + e.Message + ")"
	case signer.ReasonExpired, signer.ReasonNotYetValid:
		e.Code, e.RequestExpired = CodeClientSignatureExpired, true
		switch {
		case s3 && presigned:
			e.Status, e.AWSCode = http.StatusForbidden, "AccessDenied"
			e.Message = "Request has expired (" + e.Message + ")"
		case s3:
			e.Status, e.AWSCode = http.StatusForbidden, "RequestTimeTooSkewed"
			e.Message = "The difference between the request time and the current time is too large. (" + e.Message + ")"
		default:
			e.Status, e.AWSCode = http.StatusBadRequest, "RequestExpired"
			e.Message = "Request has expired. (" + e.Message + ")"
		}
	case signer.ReasonPayloadMismatch:
		e.Status, e.Code, e.AWSCode = http.StatusBadRequest, CodeClientSignatureInvalid, "XAmzContentSHA256Mismatch"
	default: // malformed, unsigned header, unsupported algorithm
		e.Status, e.Code = http.StatusBadRequest, CodeClientSignatureInvalid
		switch {
		case s3 && presigned:
			e.AWSCode = "AuthorizationQueryParametersError"
		case s3:
			e.AWSCode = "AuthorizationHeaderMalformed"
		default:
			e.AWSCode = "IncompleteSignature"
		}
	}
	return e
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// prepareClientSigned frames the body of a request signed with a client key
// as the client declared it: UNSIGNED-PAYLOAD stays unsigned (streamed), a
// body whose hash was checked is signed with that hash (the spool the
// handler filled: its sum is the client's declared or signed hash), an
// empty body as empty. The client's X-Amz-Content-Sha256, when it sent one,
// goes out again with the same value.
func (t *RequestSigner) prepareClientSigned(req *http.Request, x *exchange) (bodyPlan, error) {
	declared := x.clientSig.declared != ""
	maxBody := int64(t.c.cfg.MaxBody)
	switch {
	case x.spool != nil:
		if !x.spool.Replays(req.Body) {
			// A retry: replay the spool.
			closeBody(req)
			req.Body = x.spool.Reader()
		}
		req.GetBody = func() (io.ReadCloser, error) { return x.spool.Reader(), nil }
		req.ContentLength = x.spool.Size()
		req.TransferEncoding = nil
		req.Header.Del("Transfer-Encoding")
		if x.spool.Size() == 0 {
			req.Body, req.GetBody = nil, nil
			return bodyPlan{mode: "empty", hash: signer.EmptyPayloadHash, declared: declared}, nil
		}
		return bodyPlan{mode: PayloadSigned, hash: x.spool.Sum(), declared: declared}, nil
	case x.clientSig.declared == signer.UnsignedPayload:
		if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
			closeBody(req)
			req.Body, req.ContentLength, req.GetBody = nil, 0, nil
		} else if req.ContentLength > maxBody {
			closeBody(req)
			return bodyPlan{}, &body.TooLargeError{Limit: maxBody}
		} else if req.ContentLength < 0 {
			req.Body = body.Limit(req.Body, maxBody)
		}
		return bodyPlan{mode: PayloadUnsigned, hash: signer.UnsignedPayload, declared: true}, nil
	default:
		// No body to hash: the handler spools every other one.
		closeBody(req)
		req.Body, req.ContentLength, req.GetBody = nil, 0, nil
		return bodyPlan{mode: "empty", hash: signer.EmptyPayloadHash, declared: declared}, nil
	}
}

// clientBodyRefusal turns a chunk signature that failed while the body
// streamed (signer.VerifyStreaming's reader, under the signer's re-encoding)
// into the answer the client's SDK reads; other errors are returned as
// they are.
func clientBodyRefusal(x *exchange, err error) error {
	var ve *signer.VerifyError
	if x == nil || x.clientSig == nil || !errors.As(err, &ve) {
		return err
	}
	return verifyRefusal(ve, x.clientSig.shape, false)
}

// clientTarget is where a client-key request whose Host (lowercase, without
// port) names no AWS endpoint goes: the endpoint of its verified scope
// (endpoint.HostFor), with a bucket.localhost Host's bucket noted in sig
// for the path. ok is false when host is an AWS endpoint, or a host
// --allow-hosts names (the operator's own S3-compatible server): the
// request goes there, as any other. The error (400 unknown_endpoint) says
// why the scope names no single endpoint.
func (p *Proxy) clientTarget(host string, sig *clientSignature) (target string, ok bool, err error) {
	if _, err := endpoint.Resolve(host); err == nil {
		return "", false, nil
	}
	if p.c.allow.checkHost(host) == nil {
		return "", false, nil
	}
	if sig.region == "" {
		return "", false, &RequestError{Code: CodeUnknownEndpoint, Message: "the request is signed with SigV4a, whose scope names no region, and its Host " + quote(host) + " is not an AWS endpoint: the proxy cannot tell where it goes; send it with the AWS host name"}
	}
	target, err = endpoint.HostFor(sig.service, sig.region)
	if err != nil {
		return "", false, &RequestError{Code: CodeUnknownEndpoint, Message: "the Host " + quote(host) + " is not an AWS endpoint, so the request goes to the endpoint of its signature's scope, but " + err.Error()}
	}
	if bucket, ok := strings.CutSuffix(host, ".localhost"); ok && signer.IsS3Family(sig.service) && bucket != "" {
		sig.bucket = bucket
	}
	return target, true, nil
}

// routeRefusalForSDK is the Router's refusal of a request signed with a
// client key (no route for its host and path, or none that admits its
// client) as AWS answers a request its policy denies, AccessDenied, in the
// document the client's SDK reads, so that the app shows a real error. The
// proxy's code stays in ErrorHeader. Other errors are returned as they are.
func routeRefusalForSDK(r *http.Request, err error) error {
	var code string
	switch {
	case errors.As(err, new(*route.NoRouteError)):
		code = CodeNoRoute
	case errors.As(err, new(*route.ClientNotAllowedError)):
		code = CodeClientNotAllowed
	default:
		return err
	}
	claimed, _ := claimedAuthorization(r)
	return &ClientSignatureError{Status: http.StatusForbidden, Code: code, AWSCode: "AccessDenied", Shape: shapeFor(r, claimed.Service),
		Message: "sigv4-sidecar: " + err.Error()}
}

// allowRefusalForSDK is --allow-hosts' refusal of a request verified as
// signed with a client key (sig, nil for any other request) as AWS answers
// a request its policy denies, AccessDenied, in the document the client's
// SDK reads, as routeRefusalForSDK answers for routes; the proxy's code,
// host_not_allowed, stays in ErrorHeader. Other errors are returned as they
// are.
func allowRefusalForSDK(sig *clientSignature, err error) error {
	var notAllowed *HostNotAllowedError
	if sig == nil || !errors.As(err, &notAllowed) {
		return err
	}
	return &ClientSignatureError{Status: http.StatusForbidden, Code: CodeHostNotAllowed, AWSCode: "AccessDenied", Shape: sig.shape,
		Message: "sigv4-sidecar: " + err.Error()}
}
