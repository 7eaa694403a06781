package signer

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
	cv := &chunkVerifier{
		chain: chunkChain{key: v.key, amzDate: v.amzDate, prev: v.signature}, res: res, signed: mode != StreamingUnsignedPayloadTrailer,
		declared: -1, h: sha256.New(),
	}
	if d := req.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return res, &VerifyError{Reason: ReasonMalformed, Detail: "X-Amz-Decoded-Content-Length " + strconv.Quote(d), Result: res}
		}
		cv.declared = n
	}
	if t := strings.ToLower(strings.TrimSpace(req.Header.Get("X-Amz-Trailer"))); t != "" {
		cv.trailer = t
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
	cv.src, cv.closer = bufio.NewReaderSize(body, 4096), body
	req.Body = cv
	return res, nil
}

// chunkVerifier decodes and checks an aws-chunked body.
type chunkVerifier struct {
	src      *bufio.Reader
	closer   io.Closer
	chain    chunkChain
	res      Result
	signed   bool
	trailer  string    // expected trailer name, lowercase, or ""
	sum      hash.Hash // checksum of the decoded payload, when the trailer is a known one
	declared int64     // X-Amz-Decoded-Content-Length, or -1
	total    int64
	chunk    int
	h        hash.Hash
	buf      []byte
	pending  []byte
	done     bool
	err      error
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

// line reads one CRLF-terminated line without its CRLF.
func (c *chunkVerifier) line(what string) (string, error) {
	l, err := c.src.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return "", c.fail(ReasonMalformed, what+" longer than 4096 bytes")
		}
		return "", c.fail(ReasonMalformed, "body ended inside "+what)
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return "", c.fail(ReasonMalformed, what+" not terminated by CRLF")
	}
	return string(l[:len(l)-2]), nil
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

func (c *chunkVerifier) next() error {
	what := "chunk " + strconv.Itoa(c.chunk)
	head, err := c.line(what + " header")
	if err != nil {
		return err
	}
	sizeHex, ext, hasExt := strings.Cut(head, ";")
	sig, hasSig := strings.CutPrefix(ext, "chunk-signature=")
	switch {
	case c.signed && (!hasSig || len(sig) != 64):
		return c.fail(ReasonMalformed, what+" header "+strconv.Quote(head)+" has no chunk-signature")
	case !c.signed && hasExt:
		return c.fail(ReasonMalformed, what+" header "+strconv.Quote(head)+": unsigned chunks carry no extension")
	}
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	if err != nil || size < 0 || size > MaxChunkSize {
		return c.fail(ReasonMalformed, what+" size "+strconv.Quote(sizeHex)+" is not hex up to 16 MiB")
	}
	if int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	data := c.buf[:size]
	if _, err := io.ReadFull(c.src, data); err != nil {
		return c.fail(ReasonMalformed, "body ended inside "+what)
	}
	if c.signed {
		c.h.Reset()
		c.h.Write(data)
		var sum [sha256.Size]byte
		if err := c.expectSignature(chunkAlgorithm, c.h.Sum(sum[:0]), sig, what); err != nil {
			return err
		}
	}
	c.total += size
	if c.declared >= 0 && c.total > c.declared {
		return c.fail(ReasonPayloadMismatch, "body longer than X-Amz-Decoded-Content-Length "+strconv.FormatInt(c.declared, 10))
	}
	if c.sum != nil {
		c.sum.Write(data)
	}
	c.chunk++
	if size > 0 {
		if l, err := c.line(what + " end"); err != nil || l != "" {
			if err == nil {
				err = c.fail(ReasonMalformed, what+" data longer than its size")
			}
			return err
		}
		c.pending = data
		return nil
	}
	return c.finish()
}

// finish reads the trailer after the final chunk and checks it, the
// checksum and the decoded length.
func (c *chunkVerifier) finish() error {
	c.done = true
	defer c.chain.done()
	var lines []string
	trailerSig := ""
	for {
		l, err := c.line("trailer")
		if err != nil {
			return err
		}
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return c.fail(ReasonMalformed, "trailer line without ':'")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "x-amz-trailer-signature" {
			trailerSig = strings.TrimSpace(value)
			continue
		}
		lines = append(lines, name+":"+strings.TrimSpace(value))
	}
	if _, err := c.src.ReadByte(); err != io.EOF {
		return c.fail(ReasonMalformed, "bytes after the end of the aws-chunked body")
	}
	if c.declared >= 0 && c.total != c.declared {
		return c.fail(ReasonPayloadMismatch, "body of "+strconv.FormatInt(c.total, 10)+" bytes, X-Amz-Decoded-Content-Length says "+strconv.FormatInt(c.declared, 10))
	}
	if c.trailer == "" {
		if len(lines) > 0 || trailerSig != "" {
			return c.fail(ReasonMalformed, "trailer without X-Amz-Trailer")
		}
		return nil
	}
	var value string
	found := false
	for _, l := range lines {
		if n, v, _ := strings.Cut(l, ":"); n == c.trailer {
			value, found = v, true
		}
	}
	if !found {
		return c.fail(ReasonMalformed, "trailer "+c.trailer+" announced by X-Amz-Trailer is missing")
	}
	if c.signed {
		if len(trailerSig) != 64 {
			return c.fail(ReasonMalformed, "no x-amz-trailer-signature")
		}
		c.h.Reset()
		for _, l := range lines {
			c.h.Write([]byte(l))
			c.h.Write([]byte{'\n'})
		}
		var sum [sha256.Size]byte
		if err := c.expectSignature(trailerAlgorithm, c.h.Sum(sum[:0]), trailerSig, "trailer"); err != nil {
			return err
		}
	}
	if c.sum != nil {
		if want := base64.StdEncoding.EncodeToString(c.sum.Sum(nil)); !bytes.Equal([]byte(want), []byte(value)) {
			return c.fail(ReasonPayloadMismatch, c.trailer+" "+value+" but the payload's is "+want)
		}
	}
	return nil
}
