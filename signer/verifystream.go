package signer

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// VerifyStreaming is Verify for S3 aws-chunked uploads. It verifies the
// seed signature as Verify does. When X-Amz-Content-Sha256 is one of the
// streaming constants it then replaces req.Body with a reader that yields
// the decoded payload and checks, as the body streams, every chunk
// signature, the trailer signature, the trailer checksum and
// X-Amz-Decoded-Content-Length; a failure surfaces from Read as a
// *VerifyError (ReasonSignatureMismatch naming the chunk,
// ReasonPayloadMismatch for a checksum or a length, ReasonMalformed for
// the framing). The reader holds one chunk, at most MaxChunkSize bytes.
// Other requests are verified as by Verify and their body is left alone.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// Safe for concurrent use on distinct requests.
func (s *Signer) VerifyStreaming(req *http.Request, lookup func(accessKeyID string) (Credentials, bool), opts VerifyOptions) (Result, error) {
	res, v, err := s.verify(req, lookup, opts)
	if err != nil {
		return res, err
	}
	mode := req.Header.Get("X-Amz-Content-Sha256")
	switch mode {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
	default:
		return res, nil
	}
	if v.key == nil { // a SigV4a seed: its chunks would chain ECDSA signatures
		return res, &VerifyError{Reason: ReasonUnsupportedAlgorithm, Detail: "aws-chunked upload signed with " + AlgorithmV4a + ": only SigV4 chunks are verified", Result: res}
	}
	cv := &chunkVerifier{
		chain: chunkChain{key: v.key, amzDate: v.amzDate, prev: v.signature}, res: res, signed: mode != StreamingUnsignedPayloadTrailer,
		h: sha256.New(),
	}
	o := DecodeOptions{Signed: cv.signed, DecodedLength: -1}
	if d := req.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return res, &VerifyError{Reason: ReasonMalformed, Detail: "X-Amz-Decoded-Content-Length " + strconv.Quote(d), Result: res}
		}
		o.DecodedLength = n
	}
	if t := strings.ToLower(strings.TrimSpace(req.Header.Get("X-Amz-Trailer"))); t != "" {
		o.Trailer = t
		if c, ok := checksums[t]; ok {
			cv.sum = c.new()
		}
	} else if mode != StreamingPayload {
		return res, &VerifyError{Reason: ReasonMalformed, Detail: mode + " without X-Amz-Trailer", Result: res}
	}
	body := req.Body
	if body == nil {
		body = http.NoBody
	}
	cv.dec, cv.closer = NewChunkDecoder(body, o), body
	req.Body = cv
	return res, nil
}

// chunkVerifier checks an aws-chunked body that its ChunkDecoder parses:
// it holds each chunk until its signature is checked, then yields it.
type chunkVerifier struct {
	dec     *ChunkDecoder
	closer  io.Closer
	chain   chunkChain
	res     Result
	signed  bool
	sum     hash.Hash // checksum of the decoded payload, when the trailer is a known one
	h       hash.Hash
	buf     []byte
	pending []byte
	done    bool
	err     error
}

// Read implements io.Reader, yielding the decoded payload.
func (c *chunkVerifier) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		c.err = c.next()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Close closes the underlying body.
func (c *chunkVerifier) Close() error { return c.closer.Close() }

func (c *chunkVerifier) fail(r Reason, detail string) error {
	return &VerifyError{Reason: r, Detail: detail, Result: c.res}
}

// framing turns the decoder's error into the verifier's.
func (c *chunkVerifier) framing(err error) error {
	var fe *FramingError
	switch {
	case errors.As(err, &fe) && fe.Length:
		return c.fail(ReasonPayloadMismatch, fe.Detail)
	case errors.As(err, &fe):
		return c.fail(ReasonMalformed, fe.Detail)
	}
	return c.fail(ReasonMalformed, "reading the body: "+err.Error())
}

// expectSignature checks sig against the chain's next signature and, when
// it matches, moves the chain on.
func (c *chunkVerifier) expectSignature(algorithm string, dataHash []byte, sig, what string) error {
	want := c.chain.signature(algorithm, dataHash)
	if !hmac.Equal(want[:], []byte(sig)) {
		return c.fail(ReasonSignatureMismatch, what+" signature does not match")
	}
	c.chain.prev = want
	return nil
}

// next reads one whole chunk (its header through the decoder, which for
// the final chunk also reads the trailer and the end of the body), checks
// its signature and makes it pending.
func (c *chunkVerifier) next() error {
	d := c.dec
	what := "chunk " + strconv.Itoa(d.chunk)
	if err := d.nextChunk(); err != nil {
		return c.framing(err)
	}
	size := d.inChunk
	if size > MaxChunkSize {
		return c.fail(ReasonMalformed, what+" size is above 16 MiB")
	}
	if int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	data := c.buf[:size]
	if _, err := io.ReadFull(d, data); err != nil {
		return c.framing(err)
	}
	if size > 0 && d.err != nil {
		return c.framing(d.err) // the chunk's CRLF
	}
	if c.signed {
		c.h.Reset()
		c.h.Write(data)
		var sum [sha256.Size]byte
		if err := c.expectSignature(chunkAlgorithm, c.h.Sum(sum[:0]), d.chunkSig, what); err != nil {
			return err
		}
	}
	if c.sum != nil {
		c.sum.Write(data)
	}
	if size > 0 {
		c.pending = data
		return nil
	}
	return c.finish()
}

// finish checks the trailer after the final chunk, which the decoder has
// read and found announced and well formed.
func (c *chunkVerifier) finish() error {
	c.done = true
	defer c.chain.done()
	d := c.dec
	if d.o.Trailer == "" {
		return nil
	}
	line := d.o.Trailer + ":" + d.value
	if c.signed {
		c.h.Reset()
		c.h.Write([]byte(line))
		c.h.Write([]byte{'\n'})
		var sum [sha256.Size]byte
		if err := c.expectSignature(trailerAlgorithm, c.h.Sum(sum[:0]), d.trailerSig, "trailer"); err != nil {
			return err
		}
	}
	if c.sum != nil {
		if want := base64.StdEncoding.EncodeToString(c.sum.Sum(nil)); !bytes.Equal([]byte(want), []byte(d.value)) {
			return c.fail(ReasonPayloadMismatch, d.o.Trailer+" "+d.value+" but the payload's is "+want)
		}
	}
	return nil
}
