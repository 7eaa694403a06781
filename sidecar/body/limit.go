package body

import "io"

// Limit returns body failing with a *TooLargeError once more than limit
// bytes have been read from it: for a body streamed to the upstream
// unread, whose length is not known in advance.
func Limit(body io.ReadCloser, limit int64) io.ReadCloser {
	return &limitedBody{ReadCloser: body, limit: limit, left: limit}
}

type limitedBody struct {
	io.ReadCloser
	limit, left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		// The limit, not what this read had left: that is 0 once earlier
		// reads ended exactly on it, and "--max-body (0)" names no option.
		return n, &TooLargeError{Limit: b.limit}
	}
	return n, err
}
