package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingWriter keeps every Write it gets, separately.
type recordingWriter struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), w.err
}

func (w *recordingWriter) all() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes), strings.Join(w.writes, "")
}

// TestBatchWriterHoldsRequestLines: request lines wait for their batch and
// go out in one write; any other line goes out at once, after them, in
// order.
func TestBatchWriterHoldsRequestLines(t *testing.T) {
	under := &recordingWriter{}
	b := NewBatchWriter(under, time.Hour) // only Flush or another line sends them
	log, err := NewLogger(b, LogConfig{Format: "json", Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		LogRequest(context.Background(), log, RequestLog{Method: "GET", Path: fmt.Sprintf("/%d", i), Status: 200})
	}
	if n, _ := under.all(); n != 0 {
		t.Fatalf("request lines were written at once (%d writes)", n)
	}
	log.Warn("circuit breaker changed state")
	n, text := under.all()
	if n != 1 {
		t.Fatalf("%d writes, want the 3 request lines and the warning in 1", n)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var rec struct{ Msg, Path string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		msgs = append(msgs, rec.Msg+rec.Path)
	}
	if got := strings.Join(msgs, ","); got != "request/0,request/1,request/2,circuit breaker changed state" {
		t.Errorf("lines in order %s", got)
	}

	// An Info line other than a request (the listening line) is not held
	// either, nor is a 5xx request line (logged at Warn).
	log.Info("listening")
	LogRequest(context.Background(), log, RequestLog{Method: "GET", Path: "/x", Status: 502})
	if n, _ := under.all(); n != 3 {
		t.Errorf("%d writes after an Info line and a 5xx request line, want 3", n)
	}
}

// TestBatchWriterWritesWithinDelay: a held line reaches the writer by
// itself, without Flush.
func TestBatchWriterWritesWithinDelay(t *testing.T) {
	under := &recordingWriter{}
	b := NewBatchWriter(under, 10*time.Millisecond)
	log, _ := NewLogger(b, LogConfig{Format: "json", Level: "info"})
	for round := range 2 {
		LogRequest(context.Background(), log, RequestLog{Method: "GET", Path: "/", Status: 200})
		deadline := time.Now().Add(10 * time.Second)
		for n, _ := under.all(); n != round+1; n, _ = under.all() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the request line was never written", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestBatchWriterSizeLimit: a batch never holds more than batchLimit bytes.
func TestBatchWriterSizeLimit(t *testing.T) {
	under := &recordingWriter{}
	b := NewBatchWriter(under, time.Hour)
	line := []byte(strings.Repeat("x", 1000) + "\n")
	for range 3 * batchLimit / len(line) {
		b.Write(line)
	}
	n, text := under.all()
	if n < 2 || n > 3 {
		t.Fatalf("%d writes of %d bytes, want 2 or 3 batches", n, len(text))
	}
	for _, w := range under.writes {
		if len(w) > batchLimit+len(line) {
			t.Errorf("a batch of %d bytes", len(w))
		}
	}
}

func TestBatchWriterCloseFlushesAndWritesThrough(t *testing.T) {
	under := &recordingWriter{}
	b := NewBatchWriter(under, time.Hour)
	b.Write([]byte("held\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("after\n"))
	if n, text := under.all(); n != 2 || text != "held\nafter\n" {
		t.Fatalf("%d writes %q", n, text)
	}
}

func TestBatchWriterZeroDelayWritesAtOnce(t *testing.T) {
	under := &recordingWriter{}
	b := NewBatchWriter(under, 0)
	log, _ := NewLogger(b, LogConfig{Format: "json", Level: "info"})
	LogRequest(context.Background(), log, RequestLog{Method: "GET", Path: "/", Status: 200})
	if n, _ := under.all(); n != 1 {
		t.Fatalf("%d writes, want the line at once", n)
	}
}

func TestBatchWriterReportsWriteError(t *testing.T) {
	under := &recordingWriter{err: errors.New("disk full")}
	b := NewBatchWriter(under, time.Hour)
	b.Write([]byte("line\n"))
	if err := b.Flush(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Flush: %v", err)
	}
	if err := b.Flush(); err != nil {
		t.Fatalf("second Flush: %v, want the error reported once", err)
	}
}

// TestBatchWriterConcurrentLines: lines from many goroutines arrive whole.
func TestBatchWriterConcurrentLines(t *testing.T) {
	var under bytes.Buffer
	var mu sync.Mutex
	b := NewBatchWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return under.Write(p)
	}), time.Millisecond)
	log, _ := NewLogger(b, LogConfig{Format: "json", Level: "info"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				LogRequest(context.Background(), log, RequestLog{Method: "GET", Path: fmt.Sprintf("/%d/%d", g, i), Status: 200})
			}
		}()
	}
	wg.Wait()
	b.Close()
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(under.String()), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		var rec struct{ Path string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("torn line %q: %v", line, err)
		}
		seen[rec.Path] = true
	}
	if len(seen) != 8*500 {
		t.Errorf("%d distinct lines", len(seen))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
