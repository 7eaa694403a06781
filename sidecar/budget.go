package sidecar

import "sync/atomic"

// memoryBudget is the process-wide allowance of request-body bytes held in
// memory (--body-memory-total), shared by every spool of one Proxy. A spool
// asks for memory before it grows its buffer; when the budget cannot give
// it, the body goes to a temporary file instead: nobody waits for memory, so
// a burst of uploads can neither deadlock the proxy nor fail for want of it,
// and the memory held for bodies never exceeds the limit. Safe for
// concurrent use.
type memoryBudget struct {
	// limit is the most that may be held at once; 0 or less: no limit (the
	// bytes are still counted).
	limit int64
	used  atomic.Int64
	// peak is the most ever reserved at once, for tests and metrics.
	peak atomic.Int64
}

func newMemoryBudget(limit int64) *memoryBudget { return &memoryBudget{limit: limit} }

// reserve takes n bytes from the budget and reports whether it could. It
// never blocks: a false answer means "use the file".
func (b *memoryBudget) reserve(n int64) bool {
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

func (b *memoryBudget) notePeak(used int64) {
	for {
		peak := b.peak.Load()
		if used <= peak || b.peak.CompareAndSwap(peak, used) {
			return
		}
	}
}

// release gives back n bytes taken with reserve.
func (b *memoryBudget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
	}
}

// inUse returns the bytes currently reserved.
func (b *memoryBudget) inUse() int64 { return b.used.Load() }

// highWater returns the most bytes ever reserved at once.
func (b *memoryBudget) highWater() int64 { return b.peak.Load() }
