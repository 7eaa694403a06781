package sidecar

import (
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
//
// In memory the body is a list of blocks taken from a memoryBudget (see
// spoolBody). A spool is filled and closed by one goroutine, but its
// readers may be closed by others (net/http closes a request body from its
// write loop, possibly after RoundTrip returned).
type spool struct {
	blocks [][]byte // the body in memory, in order; nil once in a file
	file   *os.File
	size   int64
	sum    string // hex SHA-256 of the body

	// budget is where the memory was reserved; reserved is how much of it
	// this spool holds, given back by Close.
	budget   *memoryBudget
	reserved int64
	// disk is --spool-total, the bytes all spool files may hold together;
	// onDisk is how much of it this spool holds, given back by Close.
	disk   *memoryBudget
	onDisk int64
	// declared is the body's declared length (-1 unknown), for the error
	// that says it can never fit.
	declared int64

	// The blocks go back to the budget for reuse only once the spool is
	// closed and no reader can still read them: a block reused while a
	// write loop still sends it would put one request's bytes in another.
	mu      sync.Mutex
	readers int  // readers not yet closed
	closed  bool // Close was called
	kept    [][]byte
}

// spoolFilesOpen counts spool files not yet closed, for tests and metrics.
var spoolFilesOpen atomic.Int64

// spoolChunk is the size of the reads that go to the file.
const spoolChunk = 32 << 10

// spoolChunks recycles the read buffers of bodies on their way to a file.
var spoolChunks = sync.Pool{New: func() any { return new([spoolChunk]byte) }}

// spoolBody reads body to its end, hashing it in the same pass. Up to
// memLimit bytes are held in memory, as long as budget (the process-wide
// --body-memory-total; nil: none) can give them; the rest, or the whole
// body when the budget cannot, goes to a temporary file in dir ("" for the
// system default), as long as disk (the process-wide --spool-total; nil:
// none) can hold them. It never waits for memory or disk. More than maxBody
// bytes give a *BodyTooLargeError, a failing body a *BodyReadError, a
// failing file a *SpoolError, a spent disk budget a *SpoolFullError; on
// error nothing stays reserved and the file is gone. body is not closed.
//
// sizeHint is the body's declared length (-1 unknown): a body known to fit
// reserves exactly its size at once (and goes straight to the file when the
// budget cannot give it), one known not to goes straight to the file. A
// body of unknown length reserves spoolBlock bytes at a time.
func spoolBody(body io.Reader, sizeHint, memLimit, maxBody int64, dir string, budget, disk *memoryBudget) (_ *spool, err error) {
	if budget == nil {
		budget = newMemoryBudget(0)
	}
	if disk == nil {
		disk = newMemoryBudget(0)
	}
	s := &spool{budget: budget, disk: disk, declared: sizeHint}
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
	case sizeHint > 0:
		// Known to fit, but the budget is spent: no point trying.
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
	held := int64(0) // capacity of the blocks
	if s.file == nil {
		held += s.addBlock(held, memLimit)
	}
	var probe [1]byte
	for {
		// Read straight into the last block while it has room. When it is
		// full, read one byte before taking another block, so that a body
		// that ends on a block's edge takes no block it does not need.
		// Once in the file, read chunks.
		var p []byte
		toBlock, toNewBlock := false, false
		switch {
		case s.file != nil || len(s.blocks) == 0:
			if chunk == nil {
				chunk = spoolChunks.Get().(*[spoolChunk]byte)
			}
			p = chunk[:]
		case !full(s.blocks[len(s.blocks)-1]):
			last := s.blocks[len(s.blocks)-1]
			p, toBlock = last[len(last):cap(last)], true
		default:
			p, toNewBlock = probe[:], true
		}
		n, rerr := body.Read(p)
		if n > 0 {
			s.size += int64(n)
			if s.size > maxBody {
				return nil, &BodyTooLargeError{Limit: maxBody}
			}
			h.Write(p[:n])
			if toNewBlock {
				if added := s.addBlock(held, memLimit); added > 0 {
					held += added
					s.blocks[len(s.blocks)-1] = append(s.blocks[len(s.blocks)-1], p[:n]...)
					toBlock = true
				}
			} else if toBlock {
				last := &s.blocks[len(s.blocks)-1]
				*last = (*last)[:len(*last)+n] // read in place
			}
			if !toBlock {
				if s.file == nil {
					if err := s.toFile(dir); err != nil {
						return nil, err
					}
				}
				if err := s.reserveDisk(s.size); err != nil {
					return nil, err
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

func full(b []byte) bool { return len(b) == cap(b) }

// addBlock appends a block for the next bytes of the body, held bytes of
// blocks being taken already, and returns its capacity; 0 when the body
// must go on in the file (memLimit reached, or the budget cannot give a
// block). Within a reservation made for a known size, blocks are carved
// from it; otherwise each is reserved as it is taken.
func (s *spool) addBlock(held, memLimit int64) int64 {
	n := min(int64(spoolBlock), memLimit-held)
	if s.reserved > held {
		n = min(n, s.reserved-held)
	} else if n > 0 && !s.budget.reserve(n) {
		return 0
	} else if n > 0 {
		s.reserved += n
	}
	if n <= 0 {
		return 0
	}
	s.blocks = append(s.blocks, s.budget.block(n))
	return n
}

// reserveDisk makes sure the spool holds at least total bytes of the disk
// budget: the whole declared length at once when it is known (so a body
// that cannot fit is refused before its bytes are read), else what has
// been written so far.
func (s *spool) reserveDisk(total int64) error {
	if s.declared > total {
		total = s.declared
	}
	if total <= s.onDisk {
		return nil
	}
	if !s.disk.reserve(total - s.onDisk) {
		return &SpoolFullError{Limit: s.disk.limit, InUse: s.disk.inUse(), Declared: s.declared}
	}
	s.onDisk = total
	return nil
}

// toFile moves the body to a temporary file that no path outlives
// (createSpoolFile): what the blocks hold so far is written to it and their
// memory goes back to the budget.
func (s *spool) toFile(dir string) error {
	var held int64
	for _, b := range s.blocks {
		held += int64(len(b))
	}
	if err := s.reserveDisk(held); err != nil {
		return err
	}
	f, err := createSpoolFile(dir)
	if err != nil {
		return &SpoolError{Err: err}
	}
	spoolFilesOpen.Add(1)
	s.file = f
	for _, b := range s.blocks {
		if _, err := f.Write(b); err != nil {
			return &SpoolError{Err: err}
		}
	}
	// No reader exists yet: the blocks can be reused at once.
	for _, b := range s.blocks {
		s.budget.recycle(b)
	}
	s.blocks = nil
	s.budget.release(s.reserved)
	s.reserved = 0
	return nil
}

// inFile reports whether the body went to a temporary file.
func (s *spool) inFile() bool { return s.file != nil }

// heldInMemory returns the bytes of budget the spool holds.
func (s *spool) heldInMemory() int64 { return s.reserved }

// reader returns a fresh reader over the whole body. Readers are
// independent; the spool must outlive them, and each must be closed for
// the spool's blocks to be reused.
func (s *spool) reader() io.ReadCloser {
	if s.file != nil {
		return &spoolReader{Reader: io.NewSectionReader(s.file, 0, s.size), from: s}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readers++
	return &spoolReader{Reader: &blocksReader{blocks: s.blocks}, from: s, counted: true}
}

// spoolReader is a body replayed from a spool. A request whose body is one
// (a retry built with GetBody) is not spooled again.
type spoolReader struct {
	io.Reader
	from    *spool
	counted bool // in from.readers until closed
	once    sync.Once
}

// Close tells the spool this reader is done with its blocks. Safe to call
// more than once, from any goroutine.
func (r *spoolReader) Close() error {
	if r.counted {
		r.once.Do(func() {
			s := r.from
			s.mu.Lock()
			s.readers--
			s.recycleIfIdleLocked()
			s.mu.Unlock()
		})
	}
	return nil
}

// blocksReader reads a list of blocks in order.
type blocksReader struct {
	blocks [][]byte
	off    int // in blocks[0]
}

func (r *blocksReader) Read(p []byte) (int, error) {
	for len(r.blocks) > 0 {
		b := r.blocks[0][r.off:]
		if len(b) == 0 {
			r.blocks, r.off = r.blocks[1:], 0
			continue
		}
		n := copy(p, b)
		r.off += n
		return n, nil
	}
	return 0, io.EOF
}

// Close gives the memory back to the budget and closes (and so deletes)
// the file; the blocks are reused once the last reader is closed too. It is
// safe to call more than once.
func (s *spool) Close() error {
	if s.budget != nil {
		s.budget.release(s.reserved)
	}
	s.reserved = 0
	if s.disk != nil {
		s.disk.release(s.onDisk)
	}
	s.onDisk = 0
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.kept, s.blocks = s.blocks, nil
		s.recycleIfIdleLocked()
	}
	s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	spoolFilesOpen.Add(-1)
	return err
}

func (s *spool) recycleIfIdleLocked() {
	if !s.closed || s.readers > 0 || s.budget == nil {
		return
	}
	for _, b := range s.kept {
		s.budget.recycle(b)
	}
	s.kept = nil
}
