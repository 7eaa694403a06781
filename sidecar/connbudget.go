package sidecar

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// connBudget bounds the upstream connections open at once, idle and in
// use: each dial takes a slot, and the connection gives it back when it is
// closed. A process out of descriptors fails every request, its clients'
// and its spool files' included; a proxy out of budget fails only the
// requests that need a new connection, with 503 and Retry-After, and keeps
// serving the rest. Safe for concurrent use.
type connBudget struct {
	// limit is the most connections open at once; 0 or less: no limit
	// (they are still counted).
	limit int64
	open  atomic.Int64
	// reclaim, called when the budget is spent, closes idle connections to
	// free slots. Set once, before the first dial; nil: none.
	reclaim func()
}

// dial wraps next so that every connection it opens holds a slot.
func (b *connBudget) dial(next func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !b.acquire() {
			return nil, &UpstreamConnectionsExhaustedError{Limit: b.limit}
		}
		conn, err := next(ctx, network, addr)
		if err != nil {
			b.release()
			return nil, err
		}
		return &budgetedConn{Conn: conn, budget: b}, nil
	}
}

// acquire takes a slot, closing idle connections to free one when there is
// none, and reports whether it got one. It never waits.
func (b *connBudget) acquire() bool {
	if b.tryAcquire() {
		return true
	}
	if b.reclaim == nil {
		return false
	}
	b.reclaim()
	return b.tryAcquire()
}

func (b *connBudget) tryAcquire() bool {
	if b.limit <= 0 {
		b.open.Add(1)
		return true
	}
	for {
		n := b.open.Load()
		if n >= b.limit {
			return false
		}
		if b.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (b *connBudget) release() { b.open.Add(-1) }

// inUse returns the upstream connections open now.
func (b *connBudget) inUse() int64 { return b.open.Load() }

// budgetedConn gives its slot back when it is closed, once.
type budgetedConn struct {
	net.Conn
	budget *connBudget
	once   sync.Once
}

func (c *budgetedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.budget.release)
	return err
}

// upstreamConnBudget is --max-upstream-conns, or when it is 0 a budget
// derived from the open-file limit: the Go runtime raises the soft limit to
// the hard one at start (Go 1.19 and later, on Unix), and what it is then,
// less a reserve of a quarter (at least 64) for the listeners, client
// connections, spool files and logs, goes to upstream connections. 0 (no
// limit) where the limit cannot be read.
func upstreamConnBudget(configured int) int64 {
	if configured > 0 {
		return int64(configured)
	}
	return budgetFor(openFileLimit())
}

// budgetFor is the upstream connection budget under an open-file limit of
// nofile; 0 (none) when nofile is unknown.
func budgetFor(nofile int64) int64 {
	if nofile <= 0 {
		return 0
	}
	nofile = min(nofile, 1<<24)
	return max(nofile-max(64, nofile/4), 16)
}
