package sidecar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
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

	// budget is where the memory of mem was reserved; reserved is how
	// much of it this spool holds (mem's capacity), given back by Close.
	budget   *memoryBudget
	reserved int64
}

// spoolFilesOpen counts spool files not yet closed, for tests and metrics.
var spoolFilesOpen atomic.Int64

// spoolChunk is the size of the reads that go to the file, and of the first
// in-memory buffer of a body of unknown length.
const spoolChunk = 32 << 10

// spoolChunks recycles the read buffers of bodies on their way to a file.
var spoolChunks = sync.Pool{New: func() any { return new([spoolChunk]byte) }}

// spoolBody reads body to its end, hashing it in the same pass. Up to
// memLimit bytes are held in memory, as long as budget (the process-wide
// --body-memory-total; nil: none) can give them; the rest, or the whole
// body when the budget cannot, goes to a temporary file in dir ("" for the
// system default). It never waits for memory. More than maxBody bytes give
// a *BodyTooLargeError, a failing body a *BodyReadError, a failing file a
// *SpoolError; on error nothing stays reserved. body is not closed.
// sizeHint is the body's declared length (-1 unknown): a body known to fit
// gets a buffer of exactly its size, one known not to goes straight to the
// file.
func spoolBody(body io.Reader, sizeHint, memLimit, maxBody int64, dir string, budget *memoryBudget) (_ *spool, err error) {
	if budget == nil {
		budget = newMemoryBudget(0)
	}
	s := &spool{budget: budget}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	switch {
	case sizeHint > memLimit:
		if err := s.toFile(dir); err != nil {
			return nil, err
		}
	case sizeHint > 0 && budget.reserve(sizeHint):
		s.reserved = sizeHint
		s.mem = make([]byte, 0, sizeHint)
	case sizeHint > 0:
		// Known to fit, but the budget is spent: no point trying to grow.
		if err := s.toFile(dir); err != nil {
			return nil, err
		}
	}
	h := sha256.New()
	var chunk *[spoolChunk]byte
	defer func() {
		if chunk != nil {
			spoolChunks.Put(chunk)
		}
	}()
	for {
		// Read straight into the memory buffer while it has room; else
		// into a chunk that goes to the buffer (grown) or to the file.
		inMem := s.file == nil && len(s.mem) < cap(s.mem)
		var p []byte
		if inMem {
			p = s.mem[len(s.mem):cap(s.mem)]
		} else {
			if chunk == nil {
				chunk = spoolChunks.Get().(*[spoolChunk]byte)
			}
			p = chunk[:]
		}
		n, rerr := body.Read(p)
		if n > 0 {
			s.size += int64(n)
			if s.size > maxBody {
				return nil, &BodyTooLargeError{Limit: maxBody}
			}
			h.Write(p[:n])
			switch {
			case inMem:
				s.mem = s.mem[:len(s.mem)+n]
			case s.file == nil && s.grow(int64(n), memLimit):
				s.mem = append(s.mem, p[:n]...)
			default:
				if s.file == nil {
					if err := s.toFile(dir); err != nil {
						return nil, err
					}
				}
				if _, err := s.file.Write(p[:n]); err != nil {
					return nil, &SpoolError{Err: err}
				}
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
	s.sum = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// grow makes room in mem for n more bytes, within memLimit and what the
// budget gives, doubling the buffer so that a body of unknown length is
// copied a logarithmic number of times. It reports false, changing
// nothing, when the bytes must go to the file instead.
func (s *spool) grow(n, memLimit int64) bool {
	need := int64(len(s.mem)) + n
	if need > memLimit {
		return false
	}
	if need <= int64(cap(s.mem)) {
		return true
	}
	for _, want := range []int64{min(max(2*int64(cap(s.mem)), need, spoolChunk), memLimit), need} {
		if s.budget.reserve(want - s.reserved) {
			grown := make([]byte, len(s.mem), want)
			copy(grown, s.mem)
			s.mem, s.reserved = grown, want
			return true
		}
	}
	return false
}

// toFile moves the body to an unlinked temporary file: what mem holds so
// far is written to it and mem's memory goes back to the budget.
func (s *spool) toFile(dir string) error {
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
	if _, err := f.Write(s.mem); err != nil {
		return &SpoolError{Err: err}
	}
	s.freeMemory()
	return nil
}

// freeMemory drops mem and gives its reservation back.
func (s *spool) freeMemory() {
	s.mem = nil
	if s.budget != nil {
		s.budget.release(s.reserved)
	}
	s.reserved = 0
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

// Close frees the memory, giving it back to the budget, and closes (and so
// deletes) the file. It is safe to call more than once.
func (s *spool) Close() error {
	s.freeMemory()
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	spoolFilesOpen.Add(-1)
	return err
}
