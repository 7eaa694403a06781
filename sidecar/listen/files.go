package listen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// parseServingCertificate parses a PEM certificate chain and its key
// (contents[0] and contents[1], from certPath and keyPath) and checks that
// they belong together. The leaf is parsed too, so that a handshake does
// not parse it again.
func parseServingCertificate(certPath, keyPath string) func([][]byte) (*tls.Certificate, error) {
	return func(contents [][]byte) (*tls.Certificate, error) {
		if !bytes.Contains(contents[0], []byte("-----BEGIN CERTIFICATE-----")) {
			return nil, &FileError{Path: certPath, Err: errors.New("holds no PEM certificate")}
		}
		cert, err := tls.X509KeyPair(contents[0], contents[1])
		if err != nil {
			// crypto/tls says which half is wrong in words; it never
			// quotes the key.
			return nil, &FileError{Path: certPath + " and " + keyPath, Err: err}
		}
		if time.Now().After(cert.Leaf.NotAfter) {
			return nil, &FileError{Path: certPath, Err: fmt.Errorf("the certificate expired at %s", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))}
		}
		return &cert, nil
	}
}

// parseClientCA parses contents[0], from path, as PEM CA certificates.
// Anything but CERTIFICATE blocks (and text around them) is refused, so a
// key or a truncated file does not pass as a CA bundle with fewer CAs.
func parseClientCA(path string) func([][]byte) (*x509.CertPool, error) {
	return func(contents [][]byte) (*x509.CertPool, error) {
		pool := x509.NewCertPool()
		rest := contents[0]
		n := 0
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				return nil, &FileError{Path: path, Err: fmt.Errorf("holds a %s block; want CERTIFICATE blocks only", block.Type)}
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, &FileError{Path: path, Err: fmt.Errorf("certificate %d: %v", n+1, err)}
			}
			pool.AddCert(cert)
			n++
		}
		if bytes.Contains(rest, []byte("-----BEGIN")) {
			return nil, &FileError{Path: path, Err: fmt.Errorf("a PEM block after certificate %d does not parse", n)}
		}
		if n == 0 {
			return nil, &FileError{Path: path, Err: errors.New("holds no PEM certificate")}
		}
		return pool, nil
	}
}

// Tokens are the bearer tokens clients may present, by name: the lines of a
// tokens file. Only the SHA-256 of each token is held. Safe for concurrent
// use (it is never changed).
type Tokens struct {
	names  []string
	hashes [][sha256.Size]byte
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.names) }

// Names returns the token names in file order.
func (t *Tokens) Names() []string { return append([]string(nil), t.names...) }

// Lookup returns the name whose hash is the SHA-256 of token. Every entry
// is compared, each in constant time, whether or not an earlier one
// matched, so the time taken says nothing of which entry, or how much of a
// hash, a guess matched.
func (t *Tokens) Lookup(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.hashes {
		eq := subtle.ConstantTimeCompare(sum[:], t.hashes[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return "", false
	}
	return t.names[found], true
}

// ParseTokens reads a tokens file: one NAME SHA256-HEX-OF-TOKEN per line,
// separated by spaces or tabs; blank lines and lines starting with # are
// skipped. A malformed line, a duplicate name or a hash given twice is an
// error naming path and the line. A file with no token is refused too: it
// would lock every client out.
func ParseTokens(path string, contents []byte) (*Tokens, error) {
	t := &Tokens{}
	names := map[string]int{}
	hashes := map[[sha256.Size]byte]int{}
	err := parseLines(path, contents, "token", "NAME SHA256-HEX-OF-TOKEN", func(line int, fields []string) error {
		name, hexHash := fields[0], fields[1]
		if !validName(name) {
			return errors.New("NAME may hold letters, digits and . _ - : / @ only")
		}
		var h [sha256.Size]byte
		if len(hexHash) != 2*sha256.Size {
			return fmt.Errorf("the hash must be 64 hex digits (sha256sum of the token), found %d characters", len(hexHash))
		}
		if _, err := hex.Decode(h[:], []byte(hexHash)); err != nil {
			return errors.New("the hash must be 64 hex digits (sha256sum of the token)")
		}
		if prev, ok := names[name]; ok {
			return fmt.Errorf("name %q is already on line %d", name, prev)
		}
		if prev, ok := hashes[h]; ok {
			return fmt.Errorf("the same token as line %d", prev)
		}
		names[name], hashes[h] = line, line
		t.names = append(t.names, name)
		t.hashes = append(t.hashes, h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// parseLines reads a file of one record per line, fields separated by
// spaces or tabs, blank lines and lines starting with # skipped: each
// record of as many fields as shape names goes to each, whose error is
// returned naming path and the line. A file without a record is refused:
// it would lock every client out.
func parseLines(path string, contents []byte, what, shape string, each func(line int, fields []string) error) error {
	want := len(strings.Fields(shape))
	sc := bufio.NewScanner(bytes.NewReader(contents))
	sc.Buffer(nil, 1<<20)
	line, records := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != want {
			return &FileError{Path: path, Line: line, Err: fmt.Errorf("want %s, found %d fields", shape, len(fields))}
		}
		if err := each(line, fields); err != nil {
			return &FileError{Path: path, Line: line, Err: err}
		}
		records++
	}
	if err := sc.Err(); err != nil {
		return &FileError{Path: path, Line: line + 1, Err: err}
	}
	if records == 0 {
		return &FileError{Path: path, Err: fmt.Errorf("holds no %s line (%s)", what, shape)}
	}
	return nil
}

// validName keeps names printable and free of what would break a log line
// or a metric label.
func validName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:/@", c)) {
			return false
		}
	}
	return true
}
