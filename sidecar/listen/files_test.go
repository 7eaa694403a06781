package listen

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/option"
)

func tokenLine(name, token string) string {
	sum := sha256.Sum256([]byte(token))
	return name + " " + hex.EncodeToString(sum[:]) + "\n"
}

func TestParseTokens(t *testing.T) {
	good := "# apps of team a\n\n" + tokenLine("app-a", "secret-a") + "  \t\n" + tokenLine("app-b", "secret-b")
	toks, err := ParseTokens("tokens", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{"secret-a": "app-a", "secret-b": "app-b"} {
		if name, ok := toks.Lookup(token); !ok || name != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", token, name, ok, want)
		}
	}
	for _, wrong := range []string{"", "secret-c", "secret-a ", "SECRET-A"} {
		if name, ok := toks.Lookup(wrong); ok {
			t.Errorf("Lookup(%q) matched %q", wrong, name)
		}
	}

	for _, tc := range []struct {
		name, file, want string
	}{
		{"one field", tokenLine("a", "x") + "lonely\n", "tokens line 2: want NAME SHA256-HEX-OF-TOKEN, found 1 fields"},
		{"three fields", "# c\n" + strings.TrimSuffix(tokenLine("a", "x"), "\n") + " extra\n", "tokens line 2: want NAME SHA256-HEX-OF-TOKEN, found 3 fields"},
		{"short hash", "a abcd\n", "tokens line 1: the hash must be 64 hex digits (sha256sum of the token), found 4 characters"},
		{"not hex", "a " + strings.Repeat("zz", 32) + "\n", "tokens line 1: the hash must be 64 hex digits"},
		{"duplicate name", tokenLine("a", "x") + "\n" + tokenLine("a", "y"), `tokens line 3: name "a" is already on line 1`},
		{"duplicate token", tokenLine("a", "x") + tokenLine("b", "x"), "tokens line 2: the same token as line 1"},
		{"bad name", tokenLine("a=b", "x"), "tokens line 1: NAME may hold"},
		{"empty", "# nothing yet\n\n", "tokens: holds no token line"},
	} {
		_, err := ParseTokens("tokens", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "x\"") {
			t.Errorf("%s: the error quotes file contents: %v", tc.name, err)
		}
	}
}

// writeAtomically replaces path's contents by a rename, as cert-manager and
// editors do.
func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// secretVolume lays out files as a Kubernetes Secret volume does: the
// files are symlinks through ..data to a timestamped directory, and an
// update swaps ..data to a new directory in one rename.
type secretVolume struct {
	t   *testing.T
	dir string
	n   int
}

func newSecretVolume(t *testing.T, files map[string][]byte) *secretVolume {
	v := &secretVolume{t: t, dir: t.TempDir()}
	v.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *secretVolume) path(name string) string { return filepath.Join(v.dir, name) }

func (v *secretVolume) update(files map[string][]byte) {
	v.n++
	ts := filepath.Join(v.dir, "..2026_"+strings.Repeat("x", v.n))
	if err := os.Mkdir(ts, 0o755); err != nil {
		v.t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ts, name), data, 0o600); err != nil {
			v.t.Fatal(err)
		}
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchedFollowsSecretSwapAndKeepsLastGood: a tokens file behind a
// Secret's ..data symlink is re-read at every swap, a malformed one is
// refused with one ERROR line and the last good tokens stay.
func TestWatchedFollowsSecretSwapAndKeepsLastGood(t *testing.T) {
	vol := newSecretVolume(t, map[string][]byte{"tokens": []byte(tokenLine("a", "token-0"))})
	logs := &syncWriter{w: &strings.Builder{}}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := vol.path("tokens")
	w, err := NewWatched(ctx, log, "client tokens", 5*time.Millisecond, func(c [][]byte) (*Tokens, error) {
		return ParseTokens(path, c[0])
	}, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		token := "token-" + string(rune('0'+i))
		vol.update(map[string][]byte{"tokens": []byte(tokenLine("a", token))})
		waitFor(t, "swap "+token, func() bool { _, ok := w.Load().Lookup(token); return ok })
	}
	if got := w.Reloads(); got != 5 {
		t.Errorf("Reloads = %d after 5 swaps", got)
	}
	vol.update(map[string][]byte{"tokens": []byte("a not-a-hash\n")})
	waitFor(t, "the malformed file's refusal", func() bool { return w.Failures() == 1 })
	if _, ok := w.Load().Lookup("token-5"); !ok {
		t.Error("the last good tokens were dropped for a malformed file")
	}
	// The same bad content polled again is not logged again.
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for one malformed file:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), path+" line 1") {
		t.Errorf("the ERROR line does not name the file and line:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestCheckNamesTheFile: options half set, unreadable or malformed files
// stop the start with the option and the file named.
func TestCheckNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caPEM, _ := mintCertificate(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	_, _, certPEM, keyPEM := mintCertificate(t, &x509.Certificate{DNSNames: []string{"proxy"}}, ca, caKey)
	_, _, _, otherKeyPEM := mintCertificate(t, &x509.Certificate{DNSNames: []string{"other"}}, ca, caKey)
	_, _, expiredPEM, expiredKeyPEM := mintCertificate(t, &x509.Certificate{DNSNames: []string{"proxy"}, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, ca, caKey)
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, caFile := file("cert.pem", certPEM), file("key.pem", keyPEM), file("ca.pem", caPEM)
	tokens := file("tokens", []byte(tokenLine("a", "x")))
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"cert without key", Config{TLSCertFile: cert}, `invalid --tls-key-file "": --tls-cert-file is set: give its key too`},
		{"key without cert", Config{TLSKeyFile: key}, `invalid --tls-cert-file "": --tls-key-file is set`},
		{"CA without TLS", Config{ClientCAFile: caFile}, `invalid --client-ca-file "` + caFile + `": client certificates need TLS`},
		{"h2c with TLS", Config{TLSCertFile: cert, TLSKeyFile: key, H2C: true}, `invalid --h2c "true"`},
		{"unreadable cert", Config{TLSCertFile: missing, TLSKeyFile: key}, `invalid --tls-cert-file "` + missing + `": ` + missing + `: cannot read: no such file or directory`},
		{"unreadable key", Config{TLSCertFile: cert, TLSKeyFile: missing}, `invalid --tls-key-file "` + missing + `"`},
		{"key of another cert", Config{TLSCertFile: cert, TLSKeyFile: file("other.key", otherKeyPEM)}, "private key does not match public key"},
		{"cert is a key", Config{TLSCertFile: file("key-as-cert.pem", keyPEM), TLSKeyFile: key}, `invalid --tls-cert-file "` + filepath.Join(dir, "key-as-cert.pem") + `": ` + filepath.Join(dir, "key-as-cert.pem") + `: holds no PEM certificate`},
		{"expired cert", Config{TLSCertFile: file("expired.pem", expiredPEM), TLSKeyFile: file("expired.key", expiredKeyPEM)}, "the certificate expired at"},
		{"CA file holds a key", Config{TLSCertFile: cert, TLSKeyFile: key, ClientCAFile: key}, `invalid --client-ca-file "` + key + `": ` + key + `: holds a EC PRIVATE KEY block`},
		{"CA file empty", Config{TLSCertFile: cert, TLSKeyFile: key, ClientCAFile: file("empty.pem", nil)}, "holds no PEM certificate"},
		{"tokens malformed", Config{ClientTokensFile: file("bad-tokens", []byte("# ok\nname\n"))}, `invalid --client-tokens-file "` + filepath.Join(dir, "bad-tokens") + `": ` + filepath.Join(dir, "bad-tokens") + ` line 2: want NAME`},
		{"tokens unreadable", Config{ClientTokensFile: missing}, `invalid --client-tokens-file "` + missing + `"`},
	} {
		err := tc.cfg.Check()
		var oe *option.Error
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check() = %v, want an *OptionError containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY-----") {
			t.Errorf("%s: the error quotes a key: %v", tc.name, err)
		}
	}
	for _, ok := range []Config{{}, {TLSCertFile: cert, TLSKeyFile: key, ClientCAFile: caFile, ClientTokensFile: tokens}, {ClientTokensFile: tokens, H2C: true}} {
		if err := ok.Check(); err != nil {
			t.Errorf("Check(%+v) = %v", ok, err)
		}
	}
}
