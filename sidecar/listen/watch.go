package listen

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often a Watched's files are checked for a
// change.
const DefaultReloadInterval = time.Second

// Watched is a value parsed from one or more files and re-read when any of
// them changes. A change that does not parse leaves the last good value in
// force and is logged once at ERROR (once per distinct bad content). Load is
// safe for concurrent use and takes no lock.
type Watched[T any] struct {
	name  string
	paths []string
	parse func(contents [][]byte) (T, error)
	log   *slog.Logger

	cur      atomic.Pointer[T]
	reloads  atomic.Uint64 // good values taken after the first
	failures atomic.Uint64 // bad new contents seen

	// Touched only by the poll goroutine (and NewWatched before it starts).
	stamps   []fileStamp
	contents [][]byte // the contents last read, good or bad
}

// fileStamp is what a poll compares to notice a change: the identity of the
// file a path resolves to, its size and modification time.
type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
	err      string
}

func stampOf(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{err: err.Error()}
	}
	s := fileStamp{size: st.Size(), mtime: st.ModTime()}
	s.dev, s.ino = fileID(st)
	return s
}

// NewWatched reads paths, parses them with parse and returns the value, or
// the error of either step naming the file (the start fails on it). Until
// ctx ends, a goroutine checks the files every interval (0:
// DefaultReloadInterval) and takes each new content that parses. name says
// what the files are in log lines ("serving certificate").
func NewWatched[T any](ctx context.Context, log *slog.Logger, name string, interval time.Duration, parse func(contents [][]byte) (T, error), paths ...string) (*Watched[T], error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	w := &Watched[T]{name: name, paths: paths, parse: parse, log: log}
	w.stamps = w.stampAll()
	contents, err := readAll(paths)
	if err != nil {
		return nil, err
	}
	v, err := parse(contents)
	if err != nil {
		return nil, err
	}
	w.contents = contents
	w.cur.Store(&v)
	go w.poll(ctx, interval)
	return w, nil
}

// Load returns the value in force.
func (w *Watched[T]) Load() T { return *w.cur.Load() }

// Reloads counts the new values taken since the first.
func (w *Watched[T]) Reloads() uint64 { return w.reloads.Load() }

// Failures counts the new contents that were refused.
func (w *Watched[T]) Failures() uint64 { return w.failures.Load() }

func (w *Watched[T]) stampAll() []fileStamp {
	out := make([]fileStamp, len(w.paths))
	for i, p := range w.paths {
		out[i] = stampOf(p)
	}
	return out
}

func (w *Watched[T]) poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check()
		}
	}
}

// check re-reads the files when a stamp moved, and takes the contents when
// they differ from the last read and parse.
func (w *Watched[T]) check() {
	stamps := w.stampAll()
	changed := false
	for i := range stamps {
		if stamps[i] != w.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return
	}
	w.stamps = stamps
	contents, err := readAll(w.paths)
	if err != nil {
		// A file being replaced may be missing for a moment; what
		// matters is what is there once it settles, and the stamp of a
		// missing file moves again when it comes back.
		if w.sameContents(nil) {
			return
		}
		w.contents = nil
		w.refuse(err)
		return
	}
	if w.sameContents(contents) {
		return
	}
	w.contents = contents
	v, err := w.parse(contents)
	if err != nil {
		w.refuse(err)
		return
	}
	w.cur.Store(&v)
	w.reloads.Add(1)
	w.log.Info("reloaded "+w.name, "files", w.paths)
}

func (w *Watched[T]) refuse(err error) {
	w.failures.Add(1)
	w.log.Error("new "+w.name+" refused; the last good one stays in force", "error", err.Error())
}

func (w *Watched[T]) sameContents(contents [][]byte) bool {
	if len(contents) != len(w.contents) {
		return false
	}
	for i := range contents {
		if !bytes.Equal(contents[i], w.contents[i]) {
			return false
		}
	}
	return true
}

func readAll(paths []string) ([][]byte, error) {
	out := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, &FileError{Path: p, Err: err}
		}
		out[i] = b
	}
	return out, nil
}

// FileError is a file that cannot be read or parsed; its message names the
// file and never quotes its contents (a key file's would be a secret).
type FileError struct {
	Path string
	// Line is the 1-based line a parse error is on, 0 for none.
	Line int
	Err  error
}

func (e *FileError) Error() string {
	reason := e.Err.Error()
	if pe, ok := e.Err.(*os.PathError); ok {
		reason = "cannot read: " + pe.Err.Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.Path, e.Line, reason)
	}
	return e.Path + ": " + reason
}

func (e *FileError) Unwrap() error { return e.Err }
