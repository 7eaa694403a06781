package signer

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
)

// DecodeOptions say what a client's headers announce about its aws-chunked
// body: X-Amz-Content-Sha256 (signed chunks or not), X-Amz-Decoded-Content-Length
// and X-Amz-Trailer.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
type DecodeOptions struct {
	// Signed: every chunk header carries ";chunk-signature=" and 64 hex
	// digits, and a trailer is followed by x-amz-trailer-signature
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]). Otherwise chunk
	// headers are a bare size (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
	Signed bool
	// DecodedLength is X-Amz-Decoded-Content-Length: the chunk sizes must
	// sum to it. -1: not announced, not checked.
	DecodedLength int64
	// Trailer is the trailer X-Amz-Trailer announces, or "" for none: the
	// trailer must be exactly that one line.
	Trailer string
}

// FramingError is an aws-chunked body whose framing does not match its
// headers or the format. Detail never holds a signature.
type FramingError struct {
	Detail string
	// Length: the chunk sizes do not add up to the decoded length.
	Length bool
}

func (e *FramingError) Error() string { return "sigv4: aws-chunked body: " + e.Detail }

// ChunkDecoder reads an aws-chunked body and yields its payload, checking
// the framing as it streams: chunk headers, CRLFs, chunk sizes against the
// decoded length, the trailer against the announced one, and nothing after
// the end. It does not check chunk or trailer signatures (it has no keys:
// VerifyStreaming does that); it checks only that they are there and have
// the right form. It holds no chunk: data goes from the source to the
// caller's buffer, so memory is a 4 KiB line buffer whatever the chunk
// size. Read returns io.EOF only once the whole body, trailer included, has
// been read and found well formed; a bad body gives a *FramingError, a
// failing source its error. Not safe for concurrent use.
type ChunkDecoder struct {
	src     *bufio.Reader
	o       DecodeOptions
	left    int64 // decoded bytes not yet announced by a chunk header
	inChunk int64 // bytes of the current chunk's data not yet read
	chunk   int   // index of the current chunk, for messages
	value   string
	done    bool
	err     error

	// For VerifyStreaming, which checks what the decoder only parses: the
	// current chunk's signature and the trailer's.
	chunkSig, trailerSig string
}

// NewChunkDecoder decodes src as o describes. o.Trailer is compared
// without regard to case.
func NewChunkDecoder(src io.Reader, o DecodeOptions) *ChunkDecoder {
	o.Trailer = strings.ToLower(strings.TrimSpace(o.Trailer))
	return &ChunkDecoder{src: bufio.NewReaderSize(src, 4096), o: o, left: o.DecodedLength}
}

// TrailerValue returns the value of the announced trailer once Read has
// returned io.EOF, or the error that stopped the body.
func (d *ChunkDecoder) TrailerValue() (string, error) {
	if d.err != nil {
		return "", d.err
	}
	if !d.done {
		return "", &FramingError{Detail: "trailer asked for before the body was read"}
	}
	return d.value, nil
}

// Buffered returns how many bytes the decoder has read from its source and
// not parsed yet. A caller that forwards the source's bytes as they are
// (the proxy's pass-through) sends only parsed ones.
func (d *ChunkDecoder) Buffered() int { return d.src.Buffered() }

// Read implements io.Reader, yielding the decoded payload.
func (d *ChunkDecoder) Read(p []byte) (int, error) {
	for d.inChunk == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.nextChunk()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > d.inChunk {
		p = p[:d.inChunk]
	}
	n, err := d.src.Read(p)
	d.inChunk -= int64(n)
	if err == io.EOF && d.inChunk > 0 {
		err = d.fail("body ended inside chunk " + strconv.Itoa(d.chunk))
	} else if err == io.EOF {
		err = nil // the CRLF check below reports it
	}
	if err != nil {
		d.err = err
		return n, err
	}
	if d.inChunk == 0 {
		if err := d.crlf(); err != nil {
			// The chunk's bytes are returned; the error comes with the next
			// Read, so the caller never sees a clean end.
			d.err = err
		}
		d.chunk++
	}
	return n, nil
}

func (d *ChunkDecoder) fail(detail string) error { return &FramingError{Detail: detail} }

// crlf consumes the CRLF that ends a chunk's data.
func (d *ChunkDecoder) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(d.src, b[:]); err != nil {
		return d.fail("body ended after chunk " + strconv.Itoa(d.chunk) + " data")
	}
	if b != [2]byte{'\r', '\n'} {
		return d.fail("chunk " + strconv.Itoa(d.chunk) + " data longer than its chunk size, or not followed by CRLF")
	}
	return nil
}

// line reads one CRLF-terminated line without its CRLF. It is only valid
// until the next read.
func (d *ChunkDecoder) line(what string) ([]byte, error) {
	l, err := d.src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, d.fail(what + " longer than 4096 bytes")
	case err != nil && err != io.EOF:
		return nil, err
	case err != nil:
		return nil, d.fail("body ended inside " + what)
	case len(l) < 2 || l[len(l)-2] != '\r':
		return nil, d.fail(what + " not terminated by CRLF")
	}
	return l[:len(l)-2], nil
}

// nextChunk reads a chunk header; for the final chunk, the trailer and the
// end of the body too.
func (d *ChunkDecoder) nextChunk() error {
	what := "chunk " + strconv.Itoa(d.chunk) + " header"
	head, err := d.line(what)
	if err != nil {
		return err
	}
	sizeHex, ext, hasExt := strings.Cut(string(head), ";")
	if d.o.Signed {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !hasExt || !ok || !isHexSignature(sig) {
			return d.fail(what + " has no chunk-signature of 64 hex digits (STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunks are signed)")
		}
		d.chunkSig = sig
	} else if hasExt {
		return d.fail(what + " has an extension; STREAMING-UNSIGNED-PAYLOAD-TRAILER chunks carry none")
	}
	if len(sizeHex) == 0 || len(sizeHex) > 16 {
		return d.fail(what + " size " + strconv.Quote(sizeHex) + " is not 1 to 16 hex digits")
	}
	size, err := strconv.ParseUint(sizeHex, 16, 64)
	if err != nil {
		return d.fail(what + " size " + strconv.Quote(sizeHex) + " is not hex")
	}
	known := d.o.DecodedLength >= 0
	if known && size > uint64(d.left) || size > math.MaxInt64 {
		return &FramingError{Detail: "chunk sizes add up to more than X-Amz-Decoded-Content-Length " + strconv.FormatInt(d.o.DecodedLength, 10), Length: true}
	}
	if size > 0 {
		d.left -= int64(size)
		d.inChunk = int64(size)
		return nil
	}
	if known && d.left != 0 {
		return &FramingError{Detail: "chunk sizes add up to " + strconv.FormatInt(d.o.DecodedLength-d.left, 10) + " bytes, X-Amz-Decoded-Content-Length says " + strconv.FormatInt(d.o.DecodedLength, 10), Length: true}
	}
	if err := d.trailer(); err != nil {
		return err
	}
	if _, err := d.src.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return d.fail("bytes after the end of the aws-chunked body")
	}
	d.done = true
	return nil
}

// trailer reads the lines after the final chunk, up to the empty line.
func (d *ChunkDecoder) trailer() error {
	found, signed := false, false
	for {
		l, err := d.line("trailer")
		if err != nil {
			return err
		}
		if len(l) == 0 {
			break
		}
		name, value, ok := strings.Cut(string(l), ":")
		if !ok {
			return d.fail("trailer line without ':'")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case signed:
			return d.fail("trailer line after x-amz-trailer-signature")
		case name == "x-amz-trailer-signature" && d.o.Signed && found:
			if !isHexSignature(strings.TrimSpace(value)) {
				return d.fail("x-amz-trailer-signature is not 64 hex digits")
			}
			signed, d.trailerSig = true, strings.TrimSpace(value)
		case d.o.Trailer == "":
			return d.fail("trailer " + strconv.Quote(name) + " without X-Amz-Trailer")
		case name != d.o.Trailer || found:
			return d.fail("trailer " + strconv.Quote(name) + " is not the one X-Amz-Trailer announces (" + d.o.Trailer + "), or comes twice")
		default:
			found, d.value = true, strings.TrimSpace(value)
		}
	}
	switch {
	case d.o.Trailer != "" && !found:
		return d.fail("trailer " + d.o.Trailer + " announced by X-Amz-Trailer is missing")
	case d.o.Trailer != "" && d.o.Signed && !signed:
		return d.fail("no x-amz-trailer-signature after the trailer")
	}
	return nil
}

func isHexSignature(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
