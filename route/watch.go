package route

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
)

// DefaultReloadInterval is how often Watch looks at the file.
const DefaultReloadInterval = time.Second

// Watcher holds the Set of a config file and keeps it current. Current is
// safe for concurrent use and takes no lock: the Set is behind an atomic
// pointer, and a request that picked a route keeps it even when a new Set
// is stored meanwhile.
type Watcher struct {
	path    string
	compile func(data []byte) (*Set, error)
	log     *slog.Logger

	cur atomic.Pointer[Set]

	mu sync.Mutex // one reading at a time: the poll and Reload
	// tried is the hash of the contents last compiled, good or bad, so
	// that a bad file is reported once, not once a poll.
	tried [sha256.Size]byte
	// pending is new contents seen by the last poll: they are taken when
	// the next poll sees them unchanged, so that a file written in place
	// is not read half-way.
	pending    []byte
	readFailed string // the last read error reported, "" after a good read
}

// Watch reads and compiles the file at path (compile is Parse then Compile
// with the caller's options and check) and returns a Watcher holding the
// Set, or the error naming the file, the route and the field: the start
// fails on it. Until ctx ends it then reads the file every interval (0:
// DefaultReloadInterval), through any symlink, and takes contents that
// differ from the last ones and compile; contents that do not are refused
// with one ERROR line, and the last good Set stays in force.
//
// The file is compared by content, not by inotify or modification time: a
// Kubernetes ConfigMap volume is updated by swapping its ..data symlink to
// a new directory, which no event on the file itself announces
// (kubernetes/kubernetes#24394). Reading a config file once a second costs
// less than a watch on the directory would save.
func Watch(ctx context.Context, path string, interval time.Duration, log *slog.Logger, compile func(data []byte) (*Set, error)) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	w := &Watcher{path: path, compile: compile, log: log}
	data, err := creds.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Problem: "cannot read: " + reason(err)}
	}
	set, err := compile(data)
	if err != nil {
		return nil, err
	}
	w.tried = sha256.Sum256(data)
	w.cur.Store(set)
	go w.poll(ctx, interval)
	return w, nil
}

// Current returns the Set in force.
func (w *Watcher) Current() *Set { return w.cur.Load() }

// Reload reads the file now (on SIGHUP) and takes it when it compiles; when
// it does not, the error is logged at ERROR and returned, and the last good
// Set stays in force. The file is compiled even when unchanged: an
// operator who sends SIGHUP is told the verdict.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := creds.ReadFile(w.path)
	if err != nil {
		e := &Error{File: w.path, Problem: "cannot read: " + reason(err)}
		w.refuse(e)
		return e
	}
	w.pending = nil
	return w.take(data, true)
}

func (w *Watcher) poll(ctx context.Context, interval time.Duration) {
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

// check is one poll: it reads the file and takes new contents once they
// are seen twice in a row.
func (w *Watcher) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := creds.ReadFile(w.path)
	if err != nil {
		// A file being replaced may be missing for a moment: said once,
		// and the last good routes stay.
		if msg := reason(err); msg != w.readFailed {
			w.readFailed = msg
			w.refuse(&Error{File: w.path, Problem: "cannot read: " + msg})
		}
		return
	}
	w.readFailed = ""
	if sha256.Sum256(data) == w.tried {
		w.pending = nil
		return
	}
	if w.pending == nil || !bytes.Equal(w.pending, data) {
		w.pending = data
		return
	}
	w.pending = nil
	_ = w.take(data, false)
}

// take compiles data and stores its Set. force compiles again contents
// already tried (an operator's SIGHUP is answered even when nothing
// changed since a refusal).
func (w *Watcher) take(data []byte, force bool) error {
	sum := sha256.Sum256(data)
	if sum == w.tried && !force {
		return nil
	}
	w.tried = sum
	set, err := w.compile(data)
	if err != nil {
		w.refuse(err)
		return err
	}
	w.cur.Store(set)
	w.log.Info("config file reloaded: new routes in force", "file", w.path, "routes", len(set.routes))
	return nil
}

func (w *Watcher) refuse(err error) {
	w.log.Error("config file refused: the last good routes stay in force", "file", w.path, "error", err.Error())
}

// reason is an error's cause without the path it repeats.
func reason(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
