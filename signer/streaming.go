package signer

import "net/http"

// DefaultChunkSize is the aws-chunked chunk size when StreamingOptions leaves it 0.
const DefaultChunkSize = 64 << 10

// StreamingOptions describe an S3 aws-chunked upload.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
type StreamingOptions struct {
	// DecodedLength is the length of the body before chunk encoding. Required.
	DecodedLength int64
	// ChunkSize is the size of every chunk but the last; 0 means DefaultChunkSize.
	// AWS requires at least 8 KiB.
	ChunkSize int
	// Trailer names a checksum trailer computed over the body
	// (x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256), or "".
	Trailer string
	// Unsigned selects STREAMING-UNSIGNED-PAYLOAD-TRAILER: chunks carry no
	// signatures; Trailer is required.
	Unsigned bool
}

// SignStreaming signs req for an aws-chunked upload of its body. It modifies
// req in place as Sign does, and also sets Content-Encoding: aws-chunked,
// X-Amz-Decoded-Content-Length, X-Amz-Content-Sha256, X-Amz-Trailer (with a
// trailer), req.ContentLength to the encoded length, and replaces req.Body
// with a reader that encodes and signs each chunk as it is read, holding one
// chunk in memory. opts.PayloadHash is ignored. Safe for concurrent use on
// distinct requests; the returned body is for one reader.
func (s *Signer) SignStreaming(req *http.Request, creds Credentials, opts Options, so StreamingOptions) (Result, error) {
	return Result{}, errField("streaming", "not implemented yet")
}

// EncodedLength returns the aws-chunked length of a body of decodedLength
// bytes cut in chunks of chunkSize (0: DefaultChunkSize), with chunk
// signatures when signed, followed by the named checksum trailer (or none
// when trailer is ""). It returns -1 for an unknown trailer or negative length.
func EncodedLength(decodedLength int64, chunkSize int, signed bool, trailer string) int64 {
	return -1
}
