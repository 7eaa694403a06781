package sidecar

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// A client may send its own S3 aws-chunked upload (current SDKs do, with
// checksums on): Content-Encoding: aws-chunked, a STREAMING-*
// X-Amz-Content-Sha256, X-Amz-Decoded-Content-Length and, with a trailer,
// X-Amz-Trailer. The body is framed, and the framing must reach the
// upstream with headers that say so: signing it as a plain body makes S3
// refuse it or, worse, store the framing as the object.
//
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER carries no signature in the body: it
//     is forwarded byte for byte, its headers signed as they came, while
//     framingCheck checks the framing on the way.
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] chunks are signed with the
//     client's keys: the body is decoded and encoded again with the
//     proxy's chunk signatures (signer.SignStreaming), the client's trailer
//     value kept.
//   - Anything else that says aws-chunked is refused with 400.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html

// clientChunked is the aws-chunked form of a client's upload, read once
// from its headers by the handler and carried in the exchange.
type clientChunked struct {
	// payload is the client's X-Amz-Content-Sha256, one of signer's three
	// streaming constants; "" for a body that is not aws-chunked.
	payload       string
	decodedLength int64
	trailer       string // X-Amz-Trailer, lowercase; "" for none
}

// clientChunkedForm reads the aws-chunked form of a request from its
// headers. It returns the zero value for a plain body and a *RequestError
// for a form the proxy cannot forward faithfully.
func clientChunkedForm(h http.Header) (clientChunked, error) {
	refuse := func(msg string) (clientChunked, error) {
		return clientChunked{}, &RequestError{Code: CodeBadRequest, Message: msg}
	}
	sha := h.Get("X-Amz-Content-Sha256")
	awsChunked := false
	for _, v := range h.Values("Content-Encoding") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "aws-chunked") {
				awsChunked = true
			}
		}
	}
	switch {
	case sha == signer.StreamingPayload, sha == signer.StreamingPayloadTrailer, sha == signer.StreamingUnsignedPayloadTrailer:
	case strings.HasPrefix(sha, "STREAMING-AWS4-ECDSA-P256-SHA256-"):
		return refuse("X-Amz-Content-Sha256 " + sha + ": the chunks are signed with SigV4a (ECDSA), which the proxy cannot re-sign; send the upload unsigned (STREAMING-UNSIGNED-PAYLOAD-TRAILER) or as a plain body")
	case strings.HasPrefix(strings.ToUpper(sha), "STREAMING-"):
		return refuse("X-Amz-Content-Sha256 " + strconv.Quote(sha) + " is not an aws-chunked form the proxy knows (STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)")
	case awsChunked:
		return refuse("Content-Encoding aws-chunked with X-Amz-Content-Sha256 " + strconv.Quote(sha) + ": an aws-chunked body needs a STREAMING-* X-Amz-Content-Sha256 that says how its chunks are signed")
	default:
		return clientChunked{}, nil
	}
	c := clientChunked{payload: sha}
	d := h.Get("X-Amz-Decoded-Content-Length")
	if d == "" {
		return refuse("X-Amz-Content-Sha256 " + sha + " without X-Amz-Decoded-Content-Length: the aws-chunked body's length is unknown")
	}
	n, err := strconv.ParseInt(d, 10, 64)
	if err != nil || n < 0 {
		return refuse("X-Amz-Decoded-Content-Length " + strconv.Quote(d) + " is not a length")
	}
	c.decodedLength = n
	c.trailer = strings.ToLower(strings.TrimSpace(h.Get("X-Amz-Trailer")))
	switch {
	case sha == signer.StreamingPayload && c.trailer != "":
		return refuse("X-Amz-Trailer with X-Amz-Content-Sha256 " + sha + ", a form without a trailer (use " + signer.StreamingPayloadTrailer + ")")
	case sha != signer.StreamingPayload && c.trailer == "":
		return refuse("X-Amz-Content-Sha256 " + sha + " without X-Amz-Trailer")
	case c.trailer != "" && !validTrailerName(c.trailer):
		return refuse("X-Amz-Trailer " + strconv.Quote(c.trailer) + " is not one header name")
	case sha == signer.StreamingPayloadTrailer && signer.EncodedLength(0, 0, true, c.trailer) < 0:
		return refuse("X-Amz-Trailer " + c.trailer + " is not a checksum the proxy can re-sign (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256)")
	}
	return c, nil
}

func validTrailerName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// prepareClientChunked frames a client's aws-chunked body for the
// upstream: passed through (unsigned form) or decoded for SignStreaming to
// encode again (signed forms). Either way it streams, holding a few KiB,
// and is sent once (no GetBody: it cannot be replayed).
//
// decoded says the body is already the decoded payload: a client-key
// request's signed chunks, which signer.VerifyStreaming verifies as they
// stream (clientkeys.go).
func (t *RequestSigner) prepareClientChunked(req *http.Request, c clientChunked, decoded bool) (bodyPlan, error) {
	maxBody := int64(t.c.cfg.MaxBody)
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		closeBody(req)
		return bodyPlan{}, &RequestError{Code: CodeBadRequest, Message: "X-Amz-Content-Sha256 " + c.payload + " with an empty body: an aws-chunked body has at least its final chunk"}
	}
	if req.ContentLength > maxBody || c.decodedLength > maxBody {
		closeBody(req)
		return bodyPlan{}, &body.TooLargeError{Limit: maxBody}
	}
	req.GetBody = nil
	opts := signer.DecodeOptions{Signed: c.payload != signer.StreamingUnsignedPayloadTrailer, DecodedLength: c.decodedLength, Trailer: c.trailer}
	if !opts.Signed {
		var raw io.ReadCloser = req.Body
		if req.ContentLength < 0 {
			raw = body.Limit(raw, maxBody)
		}
		req.Body = newFramingCheck(raw, opts)
		return bodyPlan{mode: payloadClientChunked, hash: c.payload}, nil
	}
	req.TransferEncoding = nil // the re-encoded length is known
	so := signer.StreamingOptions{DecodedLength: c.decodedLength, Trailer: c.trailer}
	if decoded {
		// The verifier checked the trailer's checksum against the
		// payload: the one SignStreaming computes is the client's.
		return bodyPlan{mode: payloadRechunked, streaming: true, stream: so}, nil
	}
	dec := signer.NewChunkDecoder(req.Body, opts)
	req.Body = struct {
		io.Reader
		io.Closer
	}{dec, req.Body}
	if c.trailer != "" {
		so.TrailerValue = dec.TrailerValue
	}
	return bodyPlan{mode: payloadRechunked, streaming: true, stream: so}, nil
}

// Body plans of a client's own aws-chunked upload, for the request log.
const (
	payloadClientChunked = "client-aws-chunked" // passed through
	payloadRechunked     = "client-aws-chunked-resigned"
)

// framingCheck forwards a client's aws-chunked body byte for byte while a
// signer.ChunkDecoder checks the framing of the same bytes. It forwards only
// bytes the decoder has parsed, and holds back the last one until the
// decoder has found the whole body well formed, so that when the framing is
// wrong the upstream receives an incomplete body (the send fails), never a
// complete one. It holds what the decoder read last: at most 32 KiB plus
// the decoder's 4 KiB.
type framingCheck struct {
	src     io.ReadCloser
	dec     *signer.ChunkDecoder
	seen    []byte // bytes the decoder has read and Read has not returned
	scratch []byte // decoded payload, discarded
	done    bool
	err     error
}

func newFramingCheck(src io.ReadCloser, o signer.DecodeOptions) *framingCheck {
	f := &framingCheck{src: src, scratch: make([]byte, 32<<10)}
	f.dec = signer.NewChunkDecoder(framingTap{f}, o)
	return f
}

// framingTap is the decoder's source: it keeps what it reads for Read.
type framingTap struct{ f *framingCheck }

func (t framingTap) Read(p []byte) (int, error) {
	n, err := t.f.src.Read(p)
	t.f.seen = append(t.f.seen, p[:n]...)
	return n, err
}

func (f *framingCheck) Read(p []byte) (int, error) {
	for {
		if f.err != nil {
			return 0, f.err
		}
		// Forward only what the decoder has parsed (not what it has read
		// ahead), less the last byte until the end is confirmed.
		hold := f.dec.Buffered()
		if !f.done {
			hold++
		}
		if len(f.seen) > hold {
			n := copy(p, f.seen[:len(f.seen)-hold])
			f.seen = f.seen[:copy(f.seen, f.seen[n:])]
			return n, nil
		}
		if f.done {
			return 0, io.EOF
		}
		if _, err := f.dec.Read(f.scratch); err == io.EOF {
			f.done = true
		} else if err != nil {
			f.err = err
		}
	}
}

func (f *framingCheck) Close() error { return f.src.Close() }
