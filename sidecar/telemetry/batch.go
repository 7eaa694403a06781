package telemetry

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// BatchWriter holds log lines on their way to an io.Writer and writes them
// together: at most Delay after the first of them was held, as soon as
// batchLimit bytes wait, or when Flush or Close is called. A logger built on
// it by NewLogger holds only request lines; any other line goes out at once,
// after what was held before it, so warnings, errors and the listening line
// are never late and never out of order.
//
// Why: the request line was one write(2) per proxied request, and on the
// way to a pipe (a container runtime's log reader) each write also wakes the
// reader. Batches of a few lines per 100 ms cost one write each. A process
// killed outright (SIGKILL, an OOM kill) loses the lines of its last Delay;
// SIGTERM and a normal exit lose nothing (cmd/sigv4-sidecar closes it).
//
// Safe for concurrent use; writes reach the underlying writer in the order
// Write was called, whole.
type BatchWriter struct {
	w     io.Writer
	delay time.Duration

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer // armed while buf holds something; nil until first use
	err   error       // the underlying writer's last error, for Flush
}

// batchLimit is how many bytes wait at most before they are written.
const batchLimit = 32 << 10

// NewBatchWriter returns a BatchWriter over w. A delay of 0 or less writes
// every line at once.
func NewBatchWriter(w io.Writer, delay time.Duration) *BatchWriter {
	return &BatchWriter{w: w, delay: delay}
}

// Write holds p (one log line) for the next batch. It never fails while it
// batches: an error of the underlying writer is returned by Flush.
func (b *BatchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.delay <= 0 {
		b.flushLocked()
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	switch {
	case len(b.buf) >= batchLimit:
		b.flushLocked()
	case len(b.buf) == len(p):
		// The first line of a batch sets its deadline.
		if b.timer == nil {
			b.timer = time.AfterFunc(b.delay, func() { _ = b.Flush() })
		} else {
			b.timer.Reset(b.delay)
		}
	}
	return len(p), nil
}

// Flush writes what is held, and returns the underlying writer's error, if
// any write of it failed since the last Flush.
func (b *BatchWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	err := b.err
	b.err = nil
	return err
}

func (b *BatchWriter) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	if _, err := b.w.Write(b.buf); err != nil {
		b.err = err
	}
	if cap(b.buf) > 4*batchLimit {
		b.buf = nil // one huge line should not stay allocated
	} else {
		b.buf = b.buf[:0]
	}
}

// Close writes what is held and stops the timer. Writes after Close are
// written at once.
func (b *BatchWriter) Close() error {
	b.mu.Lock()
	b.delay = 0
	b.mu.Unlock()
	return b.Flush()
}

var _ io.Writer = (*BatchWriter)(nil)

// flushAfter is a handler that lets only request lines wait in a
// BatchWriter: after any other record it flushes the batch.
type flushAfter struct {
	slog.Handler
	out *BatchWriter
}

func (h flushAfter) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message != requestMessage || r.Level >= slog.LevelWarn {
		if flushErr := h.out.Flush(); err == nil {
			err = flushErr
		}
	}
	return err
}

func (h flushAfter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushAfter{Handler: h.Handler.WithAttrs(attrs), out: h.out}
}

func (h flushAfter) WithGroup(name string) slog.Handler {
	return flushAfter{Handler: h.Handler.WithGroup(name), out: h.out}
}
