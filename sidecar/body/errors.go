package body

import (
	"fmt"
	"strconv"
	"time"
)

// TooLargeError is a body above --max-body (413).
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request body is larger than --max-body (%s)", FormatSize(e.Limit))
}

// ReadError is a client body that could not be read to its end (400).
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "reading the request body: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// TimeoutError is a client body that brought no bytes for
// --body-read-timeout (408). The connection is closed after the answer: what
// the client sends next on it cannot be told apart from the rest of the body.
type TimeoutError struct{ Limit time.Duration }

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the request body brought no bytes for --body-read-timeout (%s)", e.Limit)
}

// SpoolError is a body that could not be buffered for hashing (503).
type SpoolError struct{ Err error }

func (e *SpoolError) Error() string { return "buffering the request body: " + e.Err.Error() }
func (e *SpoolError) Unwrap() error { return e.Err }

// SpoolFullError is a body that would take the spool files past
// --spool-total. It is 503 with Retry-After while other bodies hold the
// space, and 413 when the body's declared length alone is above the limit
// (NeverFits).
type SpoolFullError struct {
	Limit, InUse int64
	// Declared is the body's declared length, -1 when unknown.
	Declared int64
}

// NeverFits reports whether the body's declared length alone is above the
// limit, so that retrying cannot help.
func (e *SpoolFullError) NeverFits() bool { return e.Declared > e.Limit }

func (e *SpoolFullError) Error() string {
	if e.NeverFits() {
		return fmt.Sprintf("request body (%d bytes) is larger than --spool-total (%s), the disk all buffered bodies may use together", e.Declared, FormatSize(e.Limit))
	}
	return fmt.Sprintf("buffering the request body would take the spool files past --spool-total (%s, %s in use): retry later", FormatSize(e.Limit), FormatSize(e.InUse))
}

// FormatSize writes n bytes with the largest binary unit that divides it
// (8MiB, 1536KiB, 100), the way the size options are written; sidecar's
// ByteSize prints itself with it, so an error names a limit as its option
// shows it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.factor == 0 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
