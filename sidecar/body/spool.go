package body

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Spool holds a request body that had to be read to its end before signing
// (to hash it, or to learn its length): in memory up to a limit, then in an
// unlinked temporary file. It can be replayed any number of times, so a
// retry resends the same bytes. Close releases it; the file's name is
// removed as soon as it is created, so nothing is left on disk even if the
// process dies.
//
// In memory the body is a list of blocks taken from a Budget (see
// NewSpool). A spool is filled and closed by one goroutine, but its
// readers may be closed by others (net/http closes a request body from its
// write loop, possibly after RoundTrip returned).
type Spool struct {
	blocks [][]byte // the body in memory, in order; nil once in a file
	file   *os.File
	size   int64
	sum    string // hex SHA-256 of the body

	// budget is where the memory was reserved; reserved is how much of it
	// this spool holds, given back by Close.
	budget   *Budget
	reserved int64
	// disk is --spool-total, the bytes all spool files may hold together;
	// onDisk is how much of it this spool holds, given back by Close.
	disk   *Budget
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

// filesOpen counts spool files not yet closed, in the whole process.
var filesOpen atomic.Int64

// FilesOpen returns the spool files not yet closed, in the whole process.
func FilesOpen() int64 { return filesOpen.Load() }

// spoolChunk is the size of the reads that go to the file.
const spoolChunk = 32 << 10

// spoolChunks recycles the read buffers of bodies on their way to a file.
var spoolChunks = sync.Pool{New: func() any { return new([spoolChunk]byte) }}

// Limits bound what one body may take, and where.
type Limits struct {
	// Memory is the most bytes of one body held in memory (--body-memory).
	Memory int64
	// Max is the largest body accepted (--max-body).
	Max int64
	// Dir is where spool files go (--spool-dir); "" for the system's.
	Dir string
	// MemoryTotal is the process-wide memory for bodies
	// (--body-memory-total); nil: none but Memory per body.
	MemoryTotal *Budget
	// DiskTotal is what all spool files may hold together (--spool-total);
	// nil: no limit but the disk's.
	DiskTotal *Budget
}

// NewSpool reads body to its end, hashing it in the same pass. Up to
// l.Memory bytes are held in memory, as long as l.MemoryTotal can give
// them; the rest, or the whole body when the budget cannot, goes to a
// temporary file in l.Dir, as long as l.DiskTotal can hold them. It never
// waits for memory or disk. More than l.Max bytes give a *TooLargeError, a
// failing body a *ReadError, a failing file a *SpoolError, a spent disk
// budget a *SpoolFullError; on error nothing stays reserved and the file is
// gone. body is not closed.
//
// sizeHint is the body's declared length (-1 unknown): a body known to fit
// reserves exactly its size at once (and goes straight to the file when the
// budget cannot give it), one known not to goes straight to the file. A
// body of unknown length reserves spoolBlock bytes at a time.
func NewSpool(body io.Reader, sizeHint int64, l Limits) (_ *Spool, err error) {
	budget, disk, memLimit, maxBody, dir := l.MemoryTotal, l.DiskTotal, l.Memory, l.Max, l.Dir
	if budget == nil {
		budget = NewBudget(0)
	}
	if disk == nil {
		disk = NewBudget(0)
	}
	s := &Spool{budget: budget, disk: disk, declared: sizeHint}
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
				return nil, &TooLargeError{Limit: maxBody}
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
			var tooLarge *TooLargeError
			if errors.As(rerr, &tooLarge) {
				return nil, rerr
			}
			return nil, &ReadError{Err: rerr}
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
func (s *Spool) addBlock(held, memLimit int64) int64 {
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
func (s *Spool) reserveDisk(total int64) error {
	if s.declared > total {
		total = s.declared
	}
	if total <= s.onDisk {
		return nil
	}
	if !s.disk.reserve(total - s.onDisk) {
		return &SpoolFullError{Limit: s.disk.limit, InUse: s.disk.InUse(), Declared: s.declared}
	}
	s.onDisk = total
	return nil
}

// toFile moves the body to a temporary file that no path outlives
// (createSpoolFile): what the blocks hold so far is written to it and their
// memory goes back to the budget.
func (s *Spool) toFile(dir string) error {
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
	filesOpen.Add(1)
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

// Size returns the body's length.
func (s *Spool) Size() int64 { return s.size }

// Sum returns the hex SHA-256 of the body.
func (s *Spool) Sum() string { return s.sum }

// InFile reports whether the body went to a temporary file.
func (s *Spool) InFile() bool { return s.file != nil }

// HeldInMemory returns the bytes of the memory budget the spool holds.
func (s *Spool) HeldInMemory() int64 { return s.reserved }

// Reader returns a fresh reader over the whole body. Readers are
// independent; the spool must outlive them, and each must be closed for
// the spool's blocks to be reused.
func (s *Spool) Reader() io.ReadCloser {
	if s.file != nil {
		return &spoolReader{Reader: io.NewSectionReader(s.file, 0, s.size), from: s}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readers++
	return &spoolReader{Reader: &blocksReader{blocks: s.blocks}, from: s, counted: true}
}

// Replays reports whether r is a reader of s (from Reader): a request whose
// body is one (a retry built with GetBody) need not be spooled again.
func (s *Spool) Replays(r io.Reader) bool {
	sr, ok := r.(*spoolReader)
	return ok && s != nil && sr.from == s
}

// spoolReader is a body replayed from a spool.
type spoolReader struct {
	io.Reader
	from    *Spool
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
func (s *Spool) Close() error {
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
	filesOpen.Add(-1)
	return err
}

func (s *Spool) recycleIfIdleLocked() {
	if !s.closed || s.readers > 0 || s.budget == nil {
		return
	}
	for _, b := range s.kept {
		s.budget.recycle(b)
	}
	s.kept = nil
}
