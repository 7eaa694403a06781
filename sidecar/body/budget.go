package body

import (
	"sync"
	"sync/atomic"
)

// spoolBlock is the size of the memory blocks a body is held in: large
// enough that a 1 MiB body is 16 of them, small enough that the last,
// part-filled one of a body of unknown length wastes little.
const spoolBlock = 64 << 10

// Budget is a process-wide allowance of body bytes, shared by every spool
// of one proxy: in memory (--body-memory-total) or in spool files
// (--spool-total). A spool reserves memory before it takes a block; when the
// memory budget cannot give it, the body goes to a temporary file instead:
// nobody waits for memory, so a burst of uploads can neither deadlock the
// proxy nor fail for want of it, and the memory held for bodies never
// exceeds the limit. A spent disk budget fails the body (SpoolFullError).
//
// A memory budget also recycles full-size blocks through a sync.Pool, so a
// busy proxy reuses them instead of leaving a fresh buffer per body to the
// collector, and an idle one lets them go. Safe for concurrent use.
type Budget struct {
	// limit is the most that may be held at once; 0 or less: no limit (the
	// bytes are still counted).
	limit int64
	used  atomic.Int64
	// peak is the most ever reserved at once, for tests and metrics.
	peak atomic.Int64
	free sync.Pool // *[]byte of spoolBlock capacity
}

// NewBudget returns a budget of limit bytes; 0 or less: no limit, the bytes
// are still counted.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// reserve takes n bytes from the budget and reports whether it could. It
// never blocks: a false answer means "use the file".
func (b *Budget) reserve(n int64) bool {
	if n <= 0 {
		return true
	}
	if b.limit <= 0 {
		b.notePeak(b.used.Add(n))
		return true
	}
	for {
		used := b.used.Load()
		if used+n > b.limit || used+n < used {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			b.notePeak(used + n)
			return true
		}
	}
}

func (b *Budget) notePeak(used int64) {
	for {
		peak := b.peak.Load()
		if used <= peak || b.peak.CompareAndSwap(peak, used) {
			return
		}
	}
}

// release gives back n bytes taken with reserve.
func (b *Budget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
	}
}

// block returns an empty buffer of capacity n, a recycled one when n is
// spoolBlock and one is free. The caller must hold a reservation for it.
func (b *Budget) block(n int64) []byte {
	if n == spoolBlock {
		if p, ok := b.free.Get().(*[]byte); ok {
			return (*p)[:0]
		}
	}
	return make([]byte, 0, n)
}

// recycle takes back a buffer from block once nothing can read it any
// more: the next body may overwrite it at once. It does not release the
// reservation.
func (b *Budget) recycle(p []byte) {
	if cap(p) == spoolBlock {
		b.free.Put(&p)
	}
}

// InUse returns the bytes currently reserved.
func (b *Budget) InUse() int64 { return b.used.Load() }

// HighWater returns the most bytes ever reserved at once.
func (b *Budget) HighWater() int64 { return b.peak.Load() }
