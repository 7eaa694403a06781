package sidecar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync/atomic"
)

// spool holds a request body that had to be read to its end before signing
// (to hash it, or to learn its length): in memory up to a limit, then in an
// unlinked temporary file. It can be replayed any number of times, so a
// retry resends the same bytes. Close releases it; the file's name is
// removed as soon as it is created, so nothing is left on disk even if the
// process dies.
type spool struct {
	mem  []byte
	file *os.File
	size int64
	sum  string // hex SHA-256 of the body
}

// spoolFilesOpen counts spool files not yet closed, for tests and metrics.
var spoolFilesOpen atomic.Int64

// spoolBody reads body to its end, hashing it in the same pass. Bytes beyond
// memLimit go to a temporary file in dir ("" for the system default). More
// than maxBody bytes give a *BodyTooLargeError, a failing body a
// *BodyReadError, a failing file a *SpoolError. body is not closed.
// sizeHint is the body's declared length (-1 unknown): a body known to fit
// gets a buffer of exactly its size, one known not to goes straight to the
// file.
func spoolBody(body io.Reader, sizeHint, memLimit, maxBody int64, dir string) (_ *spool, err error) {
	s := &spool{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	h := sha256.New()
	var buf bytes.Buffer
	switch {
	case sizeHint > memLimit:
		if err := s.toFile(dir, nil); err != nil {
			return nil, err
		}
	case sizeHint > 0:
		buf.Grow(int(sizeHint))
	}
	chunk := make([]byte, 32<<10)
	for {
		n, rerr := body.Read(chunk)
		if n > 0 {
			s.size += int64(n)
			if s.size > maxBody {
				return nil, &BodyTooLargeError{Limit: maxBody}
			}
			h.Write(chunk[:n])
			if s.file == nil && int64(buf.Len()+n) > memLimit {
				if err := s.toFile(dir, buf.Bytes()); err != nil {
					return nil, err
				}
				buf = bytes.Buffer{}
			}
			if s.file != nil {
				if _, err := s.file.Write(chunk[:n]); err != nil {
					return nil, &SpoolError{Err: err}
				}
			} else {
				buf.Write(chunk[:n])
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			var tooLarge *BodyTooLargeError
			if errors.As(rerr, &tooLarge) {
				return nil, rerr
			}
			return nil, &BodyReadError{Err: rerr}
		}
	}
	if s.file == nil {
		s.mem = buf.Bytes()
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

func (s *spool) toFile(dir string, head []byte) error {
	f, err := os.CreateTemp(dir, "sigv4-sidecar-body-*")
	if err != nil {
		return &SpoolError{Err: err}
	}
	spoolFilesOpen.Add(1)
	s.file = f
	// Unlink now: the open descriptor keeps the data readable, and no path
	// outlives the request, whatever happens to the process.
	if err := os.Remove(f.Name()); err != nil {
		return &SpoolError{Err: err}
	}
	if _, err := f.Write(head); err != nil {
		return &SpoolError{Err: err}
	}
	return nil
}

// inFile reports whether the body went to a temporary file.
func (s *spool) inFile() bool { return s.file != nil }

// reader returns a fresh reader over the whole body. Readers are
// independent; the spool must outlive them.
func (s *spool) reader() io.ReadCloser {
	if s.file != nil {
		return &spoolReader{Reader: io.NewSectionReader(s.file, 0, s.size), from: s}
	}
	return &spoolReader{Reader: bytes.NewReader(s.mem), from: s}
}

// spoolReader is a body replayed from a spool. A request whose body is one
// (a retry built with GetBody) is not spooled again.
type spoolReader struct {
	io.Reader
	from *spool
}

func (r *spoolReader) Close() error { return nil }

// Close frees the memory and closes (and so deletes) the file. It is safe to
// call more than once.
func (s *spool) Close() error {
	s.mem = nil
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	spoolFilesOpen.Add(-1)
	return err
}
