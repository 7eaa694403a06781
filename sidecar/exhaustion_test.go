package sidecar

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// TestSpoolTotalUnbounded: the spool files of all bodies together had no
// limit (50 uploads of 100 MiB put 5,000 MiB on disk at once). With
// --spool-total, a body that would pass it is refused with 503 spool_full
// and Retry-After while another holds the space, is never forwarded, and
// leaves no file; a body declared larger than the whole limit gets 413; once
// the space is free again, a body fits.
func TestSpoolTotalUnbounded(t *testing.T) {
	dir := t.TempDir()
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Payload = PayloadSigned
	cfg.BodyMemory = 4 << 10
	cfg.SpoolDir = dir
	cfg.SpoolTotal = 1 << 20
	p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })

	// The first body is streamed and held open: 700 KiB of it on disk.
	first := testBody(700 << 10)
	pr, pw := io.Pipe()
	firstDone := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/first", "application/octet-stream", pr)
		if err != nil {
			t.Error(err)
			firstDone <- nil
			return
		}
		firstDone <- resp
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return p.c.spoolBudget.inUse() >= int64(len(first)) }) {
		t.Fatalf("the first body holds %d bytes of the spool, want %d", p.c.spoolBudget.inUse(), len(first))
	}
	filesBefore := spoolFilesOpen.Load()

	// A second body of unknown length does not fit beside it.
	resp, err := http.Post(srv.URL+"/second", "application/octet-stream", io.MultiReader(bytes.NewReader(testBody(600<<10))))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(ErrorHeader) != CodeSpoolFull || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second body: %d %s Retry-After %q: %s; want 503 %s with Retry-After", resp.StatusCode, resp.Header.Get(ErrorHeader), resp.Header.Get("Retry-After"), msg, CodeSpoolFull)
	}
	if !bytes.Contains(msg, []byte("--spool-total")) {
		t.Errorf("message does not name --spool-total: %s", msg)
	}
	if !eventually(func() bool { return spoolFilesOpen.Load() == filesBefore }) {
		t.Errorf("the refused body left %d spool files open", spoolFilesOpen.Load()-filesBefore)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the spool directory holds %d entries", len(entries))
	}

	// A body declared larger than the whole limit can never fit: 413.
	big, _ := http.NewRequest(http.MethodPost, srv.URL+"/big", bytes.NewReader(testBody(2<<20)))
	resp, err = http.DefaultClient.Do(big)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(msg, []byte("--spool-total")) {
		t.Errorf("body above the limit: %d %s", resp.StatusCode, msg)
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream received %d requests before the first body ended, want 0", n)
	}

	pw.Close()
	if resp := <-firstDone; resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first body: %v", resp)
	} else {
		resp.Body.Close()
	}
	if rec := up.last(t); len(rec.Body) != len(first) || rec.VerifyErr != nil {
		t.Errorf("upstream got %d bytes (%v), want %d signed", len(rec.Body), rec.VerifyErr, len(first))
	}
	if !eventually(func() bool { return p.c.spoolBudget.inUse() == 0 }) {
		t.Errorf("%d bytes of the spool still held after every request", p.c.spoolBudget.inUse())
	}
	resp, err = http.Post(srv.URL+"/third", "application/octet-stream", io.MultiReader(bytes.NewReader(testBody(600<<10))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a body that fits once the space is free: %d", resp.StatusCode)
	}
}
