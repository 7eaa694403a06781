package resilience

import (
	"sync/atomic"
	"time"
)

// Clock is the time the proxy signs with: the local clock plus an offset
// learnt from upstreams that rejected a signature as skewed. The zero value is
// the local clock with no offset. Safe for concurrent use: the offset is one
// atomic value, so signers read it without a lock.
type Clock struct {
	offset atomic.Int64 // nanoseconds
	// now is the local clock; nil means time.Now. Set only before first use.
	now func() time.Time
}

// NewClock returns a Clock over now (time.Now when nil).
func NewClock(now func() time.Time) *Clock {
	return &Clock{now: now}
}

func (c *Clock) local() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// Now returns the local time plus the current offset: the time to sign with.
func (c *Clock) Now() time.Time {
	return c.local().Add(c.Offset())
}

// Offset returns how far the upstreams' clock is ahead of the local one
// (negative when behind).
func (c *Clock) Offset() time.Duration {
	return time.Duration(c.offset.Load())
}

// SetOffset replaces the offset.
func (c *Clock) SetOffset(d time.Duration) {
	c.offset.Store(int64(d))
}

// Correct sets the offset so that Now matches serverTime, and returns the new
// offset. serverTime comes from an HTTP Date header and so has a resolution of
// one second, well inside the five minutes AWS tolerates.
func (c *Clock) Correct(serverTime time.Time) time.Duration {
	d := serverTime.Sub(c.local())
	c.SetOffset(d)
	return d
}
