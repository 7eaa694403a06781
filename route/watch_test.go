package route

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink tests read while the watcher writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func compileFor(path string) func([]byte) (*Set, error) {
	return func(data []byte) (*Set, error) {
		f, err := Parse(path, data, knownOptions)
		if err != nil {
			return nil, err
		}
		return Compile(f, checkPayload)
	}
}

func routesFile(names ...string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for _, n := range names {
		b.WriteString("  - name: " + n + "\n    match: {hosts: [" + n + ".example.com]}\n")
	}
	return b.String()
}

func names(s *Set) string {
	var out []string
	for _, r := range s.Routes() {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Written beside and renamed, as an editor or a deploy tool does.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchTakesAChangedFileAndKeepsTheLastGoodOne(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, routesFile("a"))
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := Watch(ctx, path, 5*time.Millisecond, log, compileFor(path))
	if err != nil {
		t.Fatal(err)
	}
	started := w.Current()
	if names(started) != "a" {
		t.Fatalf("routes %s, want a", names(started))
	}
	picked, err := started.Pick("a.example.com", "/", "")
	if err != nil {
		t.Fatal(err)
	}

	writeFile(t, path, routesFile("a", "b"))
	waitFor(t, "the new routes", func() bool { return names(w.Current()) == "a,b" })
	// A request that picked its route before the reload keeps it, and
	// the Set it came from is unchanged.
	if picked.Name != "a" || names(started) != "a" {
		t.Errorf("the old Set changed: %s, route %s", names(started), picked.Name)
	}

	// A bad file: one ERROR line naming the file, route and field, and
	// the last good routes stay, poll after poll.
	writeFile(t, path, routesFile("a", "b")+"  - name: c\n    payload: fast\n")
	waitFor(t, "the refusal", func() bool { return strings.Contains(logs.String(), "level=ERROR") })
	time.Sleep(100 * time.Millisecond) // twenty polls more: still one line
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for one bad file, want 1:\n%s", n, logs.String())
	}
	if line := logs.String(); !strings.Contains(line, `route \"c\": payload: \"fast\"`) || !strings.Contains(line, "gateway.yaml:7") {
		t.Errorf("the ERROR line does not name the file, line, route and field:\n%s", line)
	}
	if names(w.Current()) != "a,b" {
		t.Errorf("routes %s after a bad file, want the last good a,b", names(w.Current()))
	}

	// Fixed: taken again.
	writeFile(t, path, routesFile("c"))
	waitFor(t, "the fixed file", func() bool { return names(w.Current()) == "c" })
}

// TestWatchFollowsConfigMapSymlinkSwap: the kubelet updates a ConfigMap
// volume by writing a new directory and renaming a new ..data symlink over
// the old one; the file the proxy names is a symlink through ..data.
func TestWatchFollowsConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, content string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "gateway.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_07_06_00_00.1", routesFile("a"))
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.Symlink("..data/gateway.yaml", path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := Watch(ctx, path, 5*time.Millisecond, nil, compileFor(path))
	if err != nil {
		t.Fatal(err)
	}
	version("..2026_12_07_06_01_00.2", routesFile("b"))
	waitFor(t, "the swapped routes", func() bool { return names(w.Current()) == "b" })
}

// TestReloadAnswersSIGHUP: Reload reads the file at once and says why a bad
// one is refused; the poll is not involved (an hour between polls here).
func TestReloadAnswersSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, routesFile("a"))
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := Watch(ctx, path, time.Hour, slog.New(slog.NewTextHandler(&logs, nil)), compileFor(path))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, routesFile("a", "b"))
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if names(w.Current()) != "a,b" {
		t.Errorf("after Reload: %s, want a,b", names(w.Current()))
	}
	writeFile(t, path, routesFile("a", "a"))
	err = w.Reload()
	if err == nil || !strings.Contains(err.Error(), `route "a": name: duplicate`) {
		t.Errorf("Reload of duplicate names: %v", err)
	}
	if names(w.Current()) != "a,b" {
		t.Errorf("after a refused Reload: %s, want the last good a,b", names(w.Current()))
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines, want 1:\n%s", n, logs.String())
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err == nil || !strings.Contains(err.Error(), "gateway.yaml: cannot read: no such file or directory") {
		t.Errorf("Reload of a missing file: %v", err)
	}
	if names(w.Current()) != "a,b" {
		t.Errorf("after the file went: %s, want the last good a,b", names(w.Current()))
	}
}

func TestWatchRefusesABadFileAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, "routes:\n  - name: a\n    pyload: signed\n")
	_, err := Watch(context.Background(), path, time.Hour, nil, compileFor(path))
	if err == nil || !strings.Contains(err.Error(), `gateway.yaml:3: route "a": pyload: unknown field`) {
		t.Errorf("Watch: %v", err)
	}
	_, err = Watch(context.Background(), filepath.Join(t.TempDir(), "missing.yaml"), time.Hour, nil, compileFor(path))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read") {
		t.Errorf("Watch of a missing file: %v", err)
	}
}
