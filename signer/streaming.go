package signer

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// DefaultChunkSize is the aws-chunked chunk size when StreamingOptions leaves it 0.
const DefaultChunkSize = 64 << 10

// Chunk size bounds: S3 requires at least 8 KiB for every chunk but the
// last; the upper bound caps the memory one upload holds.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
const (
	MinChunkSize = 8 << 10
	MaxChunkSize = 16 << 20
)

// StreamingOptions describe an S3 aws-chunked upload.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
type StreamingOptions struct {
	// DecodedLength is the length of the body before chunk encoding. Required.
	DecodedLength int64
	// ChunkSize is the size of every chunk but the last; 0 means DefaultChunkSize.
	ChunkSize int
	// Trailer names a checksum trailer computed over the body
	// (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256), or "".
	// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
	Trailer string
	// Unsigned selects STREAMING-UNSIGNED-PAYLOAD-TRAILER: chunks carry no
	// signatures; Trailer is required.
	Unsigned bool
	// TrailerValue, when set, gives the trailer's value once the body has
	// been read, instead of the checksum computed over it: a proxy that
	// re-signs a client's upload forwards the client's checksum
	// (ChunkDecoder.TrailerValue). An error from it, or a value whose
	// length is not the algorithm's base64 length (the encoded length is
	// announced before), fails the body with a *StreamError.
	TrailerValue func() (string, error)
}

// checksum is one trailer algorithm: its hash and the length of its
// base64 value.
type checksum struct {
	new    func() hash.Hash
	b64len int
}

var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5) // CRC-64/NVME, reflected polynomial

var checksums = map[string]checksum{
	"x-amz-checksum-crc32":     {func() hash.Hash { return crc32.NewIEEE() }, 8},
	"x-amz-checksum-crc32c":    {func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }, 8},
	"x-amz-checksum-crc64nvme": {func() hash.Hash { return crc64.New(crc64NVME) }, 12},
	"x-amz-checksum-sha1":      {sha1.New, 28},
	"x-amz-checksum-sha256":    {sha256.New, 44},
}

const (
	chunkSigPart   = len(";chunk-signature=") + 64
	trailerSigPart = len("x-amz-trailer-signature:") + 64 + 2
	chunkHeadRoom  = 16 + chunkSigPart + 2 // hex size + signature + CRLF
)

func hexLen(n int64) int64 {
	l := int64(1)
	for n >= 16 {
		n >>= 4
		l++
	}
	return l
}

// EncodedLength returns the aws-chunked length of a body of decodedLength
// bytes cut in chunks of chunkSize (0: DefaultChunkSize), with chunk
// signatures when signed, followed by the named checksum trailer (or none
// when trailer is ""). It returns -1 for an unknown trailer, a negative
// length or a chunk size outside MinChunkSize..MaxChunkSize.
func EncodedLength(decodedLength int64, chunkSize int, signed bool, trailer string) int64 {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if decodedLength < 0 || chunkSize < MinChunkSize || chunkSize > MaxChunkSize {
		return -1
	}
	sig := int64(0)
	if signed {
		sig = int64(chunkSigPart)
	}
	cs := int64(chunkSize)
	full, rem := decodedLength/cs, decodedLength%cs
	n := full * (hexLen(cs) + sig + 2 + cs + 2)
	if rem > 0 {
		n += hexLen(rem) + sig + 2 + rem + 2
	}
	n += 1 + sig + 2 // final zero-length chunk
	if trailer != "" {
		c, ok := checksums[trailer]
		if !ok {
			return -1
		}
		n += int64(len(trailer) + 1 + c.b64len + 2)
		if signed {
			n += int64(trailerSigPart)
		}
	}
	return n + 2
}

// SignStreaming signs req for an aws-chunked upload of its body. It modifies
// req in place as Sign does, and also sets Content-Encoding (aws-chunked
// first), X-Amz-Decoded-Content-Length, X-Amz-Content-Sha256, X-Amz-Trailer
// (with a trailer), req.ContentLength to the encoded length, and replaces
// req.Body with a reader that encodes and signs each chunk as it is read,
// holding one chunk in memory; req.GetBody, when set, is wrapped the same
// way so a retry re-sends identical bytes. opts.PayloadHash and
// opts.SetContentSHA256 are ignored. A body shorter or longer than
// so.DecodedLength makes the reader fail with a *StreamError. Safe for
// concurrent use on distinct requests; the body is for one reader.
func (s *Signer) SignStreaming(req *http.Request, creds Credentials, opts Options, so StreamingOptions) (Result, error) {
	if so.ChunkSize == 0 {
		so.ChunkSize = DefaultChunkSize
	}
	switch {
	case opts.Algorithm != SigV4:
		// No suite or AWS example gives SigV4a chunk vectors to test against.
		return Result{}, errField("algorithm", "aws-chunked streaming is signed with SigV4 only, not "+opts.Algorithm.String())
	case so.DecodedLength < 0:
		return Result{}, errField("decoded length", "negative: "+strconv.FormatInt(so.DecodedLength, 10))
	case so.ChunkSize < MinChunkSize || so.ChunkSize > MaxChunkSize:
		return Result{}, errField("chunk size", strconv.Itoa(so.ChunkSize)+" outside 8 KiB..16 MiB")
	case so.Trailer != "" && checksums[so.Trailer].new == nil:
		return Result{}, errField("trailer", "unsupported checksum trailer "+strconv.Quote(so.Trailer))
	case so.Unsigned && so.Trailer == "":
		return Result{}, errField("trailer", "STREAMING-UNSIGNED-PAYLOAD-TRAILER needs a trailer")
	case req != nil && req.Body == nil && so.DecodedLength > 0:
		return Result{}, errField("body", "nil body with a positive decoded length")
	}
	switch {
	case so.Unsigned:
		opts.PayloadHash = StreamingUnsignedPayloadTrailer
	case so.Trailer != "":
		opts.PayloadHash = StreamingPayloadTrailer
	default:
		opts.PayloadHash = StreamingPayload
	}
	opts.SetContentSHA256 = true
	if err := validate(req, creds, &opts); err != nil {
		return Result{}, err
	}

	if req.Header == nil {
		req.Header = make(http.Header)
	}
	// Undo these if signing fails, so an error leaves req as it came.
	saved := map[string][]string{}
	for _, k := range []string{"Content-Encoding", "X-Amz-Decoded-Content-Length", "X-Amz-Trailer"} {
		saved[k] = req.Header[k]
	}
	savedLength := req.ContentLength
	if ce := req.Header.Get("Content-Encoding"); ce == "" {
		req.Header.Set("Content-Encoding", "aws-chunked")
	} else if !strings.Contains(ce, "aws-chunked") {
		req.Header.Set("Content-Encoding", "aws-chunked,"+ce)
	}
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(so.DecodedLength, 10))
	if so.Trailer != "" {
		req.Header.Set("X-Amz-Trailer", so.Trailer)
	} else {
		req.Header.Del("X-Amz-Trailer")
	}
	req.ContentLength = EncodedLength(so.DecodedLength, so.ChunkSize, !so.Unsigned, so.Trailer)

	sc := getScratch()
	defer sc.release()
	out, err := s.core(sc, req, creds, &opts, modeHeader, 0)
	if err != nil {
		for k, v := range saved {
			if v == nil {
				delete(req.Header, k)
			} else {
				req.Header[k] = v
			}
		}
		req.ContentLength = savedLength
		return Result{}, err
	}
	applyHeaders(sc, req, creds, &opts, &out)

	seed := chunkChain{key: out.key, amzDate: out.amzDate, prev: out.signature}
	if req.Body != nil {
		req.Body = newChunkReader(req.Body, seed, so)
	} else {
		req.Body = newChunkReader(http.NoBody, seed, so)
	}
	if get := req.GetBody; get != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil {
				return nil, err
			}
			return newChunkReader(b, seed, so), nil
		}
	}
	return out.result, nil
}

// StreamError says why an aws-chunked body could not be produced.
type StreamError struct {
	// Reason: "body shorter than decoded length", "body longer than
	// decoded length", or a read error from the source body (Err).
	Reason string
	Err    error
}

func (e *StreamError) Error() string {
	if e.Err != nil {
		return "sigv4: aws-chunked body: " + e.Reason + ": " + e.Err.Error()
	}
	return "sigv4: aws-chunked body: " + e.Reason
}

func (e *StreamError) Unwrap() error { return e.Err }

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

// chunkReader encodes its source as aws-chunked, signing each chunk with
// the previous chunk's signature (the seed signature first).
type chunkReader struct {
	src       io.ReadCloser
	so        StreamingOptions
	remaining int64
	buf       []byte // head room, one chunk, CRLF, trailer room
	pending   []byte
	sum       hash.Hash // trailer checksum, or nil
	h         hash.Hash // chunk sha256
	chain     chunkChain
	sum32     [sha256.Size]byte
	done      bool
	err       error
}

// newChunkReader encodes src, chaining from seed (copied: each reader
// keeps its own chain, so GetBody can start over).
func newChunkReader(src io.ReadCloser, seed chunkChain, so StreamingOptions) *chunkReader {
	r := &chunkReader{src: src, so: so, chain: seed, remaining: so.DecodedLength, h: sha256.New()}
	size := so.ChunkSize
	if int64(size) > so.DecodedLength {
		size = int(so.DecodedLength)
	}
	r.buf = make([]byte, chunkHeadRoom+size+2+256)
	if so.Trailer != "" {
		r.sum = checksums[so.Trailer].new()
	}
	return r
}

// Read implements io.Reader.
func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// Close closes the source body.
func (r *chunkReader) Close() error { return r.src.Close() }

// String-to-sign algorithms of aws-chunked chunks and trailers.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
const (
	chunkAlgorithm   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
)

// chunkChain is the signature chain of an aws-chunked body: each chunk's
// signature covers the previous one, starting from the seed. The encoder
// and the verifier share it.
type chunkChain struct {
	key     *signingKey
	amzDate [16]byte
	prev    [64]byte // hex signature of the previous chunk (the seed first)
	sts     []byte
	sum     [sha256.Size]byte
	sc      *scratch
}

// signature returns the hex signature of the next chunk (chunkAlgorithm)
// or of the trailer (trailerAlgorithm), whose data hashes to dataHash.
func (c *chunkChain) signature(algorithm string, dataHash []byte) (sig [64]byte) {
	var hx [64]byte
	hex.Encode(hx[:], dataHash)
	b := c.sts[:0]
	b = append(b, algorithm...)
	b = append(b, '\n')
	b = append(b, c.amzDate[:]...)
	b = append(b, '\n')
	b = append(b, c.key.scope...)
	b = append(b, '\n')
	b = append(b, c.prev[:]...)
	b = append(b, '\n')
	if algorithm == chunkAlgorithm {
		b = append(b, EmptyPayloadHash...) // hash of the (absent) chunk headers
		b = append(b, '\n')
	}
	b = append(b, hx[:]...)
	c.sts = b
	if c.sc == nil {
		c.sc = getScratch()
	}
	c.sc.hmacSign(c.key, b, &c.sum)
	hex.Encode(sig[:], c.sum[:])
	return sig
}

// done returns the scratch space to its pool.
func (c *chunkChain) done() {
	if c.sc != nil {
		c.sc.release()
		c.sc = nil
	}
}

// next produces the next frame into r.pending.
func (r *chunkReader) next() error {
	n := int64(r.so.ChunkSize)
	if n > r.remaining {
		n = r.remaining
	}
	data := r.buf[chunkHeadRoom : chunkHeadRoom+int(n)]
	if n > 0 {
		if got, err := io.ReadFull(r.src, data); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				read := r.so.DecodedLength - r.remaining + int64(got)
				return &StreamError{Reason: "body shorter than decoded length (" + strconv.FormatInt(read, 10) + " of " + strconv.FormatInt(r.so.DecodedLength, 10) + " bytes)"}
			}
			return &StreamError{Reason: "reading body", Err: err}
		}
		r.remaining -= n
		if r.sum != nil && r.so.TrailerValue == nil {
			r.sum.Write(data)
		}
	} else {
		// The source must end here; a source that fails at its end (a
		// decoder that finds the framing wrong) fails the body, so the
		// final chunk is never sent after it.
		var one [1]byte
		if got, err := io.ReadFull(r.src, one[:]); got > 0 {
			return &StreamError{Reason: "body longer than decoded length (" + strconv.FormatInt(r.so.DecodedLength, 10) + " bytes)"}
		} else if err != io.EOF {
			return &StreamError{Reason: "reading body", Err: err}
		}
	}
	signed := !r.so.Unsigned
	if signed {
		r.h.Reset()
		r.h.Write(data)
		r.chain.prev = r.chain.signature(chunkAlgorithm, r.h.Sum(r.sum32[:0]))
	}
	// Head, written backwards so it ends where the data starts.
	var head [chunkHeadRoom]byte
	hb := strconv.AppendInt(head[:0], n, 16)
	if signed {
		hb = append(hb, ";chunk-signature="...)
		hb = append(hb, r.chain.prev[:]...)
	}
	hb = append(hb, '\r', '\n')
	start := chunkHeadRoom - len(hb)
	copy(r.buf[start:], hb)
	end := chunkHeadRoom + int(n)
	if n > 0 {
		r.buf = append(r.buf[:end], '\r', '\n')
		r.pending = r.buf[start : end+2]
		return nil
	}
	// Final chunk: trailer, then the closing CRLF.
	b := r.buf[:end]
	if r.sum != nil {
		line := make([]byte, 0, 64)
		line = append(line, r.so.Trailer...)
		line = append(line, ':')
		if r.so.TrailerValue != nil {
			v, err := r.so.TrailerValue()
			if err != nil {
				return &StreamError{Reason: "reading trailer", Err: err}
			}
			if len(v) != checksums[r.so.Trailer].b64len || strings.Trim(v, base64Alphabet) != "" {
				return &StreamError{Reason: "trailer " + r.so.Trailer + " value is not " + strconv.Itoa(checksums[r.so.Trailer].b64len) + " base64 characters"}
			}
			line = append(line, v...)
		} else {
			line = base64.StdEncoding.AppendEncode(line, r.sum.Sum(nil))
		}
		b = append(b, line...)
		b = append(b, '\r', '\n')
		if signed {
			r.h.Reset()
			r.h.Write(line)
			r.h.Write([]byte{'\n'})
			r.chain.prev = r.chain.signature(trailerAlgorithm, r.h.Sum(r.sum32[:0]))
			b = append(b, "x-amz-trailer-signature:"...)
			b = append(b, r.chain.prev[:]...)
			b = append(b, '\r', '\n')
		}
	}
	b = append(b, '\r', '\n')
	r.buf = b
	r.pending = b[start:]
	r.done = true
	r.chain.done()
	return nil
}
