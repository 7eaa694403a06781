package creds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
)

// defaultProfile is the section of a credentials file read when no
// --profile names another.
const defaultProfile = "default"

// changeDetector is implemented by providers that can tell, cheaply, that
// what they would return has changed although nothing has expired: the
// credentials file. The Cache polls it and refreshes when it says so.
type changeDetector interface {
	// Changed reports whether the source differs from what the last
	// Retrieve read. Safe for concurrent use.
	Changed() bool
}

// fileProvider reads static keys from a file in the AWS shared-credentials
// format: the file an external tool rotates, typically a Kubernetes Secret
// mounted as a volume.
//
// The kubelet updates such a volume by writing a new timestamped directory
// and swapping the ..data symlink to it, so inotify on the file itself never
// fires (kubernetes/kubernetes#24394 and the AtomicWriter doc). Change is
// detected by content instead: Changed reads the file through every symlink
// and compares a SHA-256 of its bytes with the last one read.
type fileProvider struct {
	path    string
	profile string

	mu sync.Mutex
	// lastHash is the hash of the content the last Retrieve read, parsed or
	// not: a broken file is tried once, then again only when it changes
	// (or when the Cache retries after a failure).
	lastHash [sha256.Size]byte
	haveHash bool
	// pending is content seen by Changed that differs from lastHash; it
	// is reported as a change once it is seen again unchanged, so that a
	// tool that rewrites the file in place is not read half-way.
	pending     [sha256.Size]byte
	havePending bool
}

var (
	_ Provider       = (*fileProvider)(nil)
	_ changeDetector = (*fileProvider)(nil)
)

func newFileProvider(path, profile string) (*fileProvider, error) {
	if profile == "" {
		profile = defaultProfile
	}
	return &fileProvider{path: path, profile: profile}, nil
}

func (p *fileProvider) name() string {
	if p.profile == defaultProfile {
		return "credentials-file"
	}
	return "credentials-file (profile " + p.profile + ")"
}

// Retrieve reads and parses the file. Errors name the file and the profile,
// never a value read from it.
func (p *fileProvider) Retrieve(context.Context) (Credentials, error) {
	data, err := ReadFile(p.path)
	if err != nil {
		return Credentials{}, fmt.Errorf("--credentials-file: %w", err)
	}
	sum := sha256.Sum256(data)
	p.mu.Lock()
	p.lastHash, p.haveHash = sum, true
	p.havePending = false
	p.mu.Unlock()

	c, err := parseCredentialsFile(data, p.profile)
	if err != nil {
		return Credentials{}, fmt.Errorf("--credentials-file %q: %w", p.path, err)
	}
	c.Source = p.name()
	return c, nil
}

// Changed reads the file and reports whether its bytes differ from the last
// Retrieve's and have stayed the same since the previous poll: a write in
// place (truncate, then write) is read once complete, so the keys only
// change one poll interval after the file settles. A file that cannot be
// read is not a change: the keys already held stay in use until a readable
// new version appears.
func (p *fileProvider) Changed() bool {
	data, err := ReadFile(p.path)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.haveHash:
		return true
	case sum == p.lastHash:
		p.havePending = false
		return false
	case p.havePending && sum == p.pending:
		return true
	default:
		p.pending, p.havePending = sum, true
		return false
	}
}

// parseCredentialsFile reads one profile from the AWS shared-credentials
// format (https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html):
// [section] lines, key = value lines, comments starting with # or ;. Keys are
// case-insensitive; aws_security_token is the legacy name of
// aws_session_token. Errors give line numbers and key names, never values:
// a value may be a secret.
func parseCredentialsFile(data []byte, profile string) (Credentials, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM from Windows editors
	var (
		section string
		found   bool
		c       Credentials
	)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return Credentials{}, fmt.Errorf("line %d: section header without ]", i+1)
			}
			section = strings.TrimSpace(line[1:end])
			if section == profile {
				found = true
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("line %d: want key = value", i+1)
		}
		if section != profile {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "aws_access_key_id":
			c.AccessKeyID = value
		case "aws_secret_access_key":
			c.SecretAccessKey = value
		case "aws_session_token":
			c.SessionToken = value
		case "aws_security_token":
			if c.SessionToken == "" {
				c.SessionToken = value
			}
		}
	}
	switch {
	case !found:
		return Credentials{}, fmt.Errorf("no [%s] profile", profile)
	case c.AccessKeyID == "":
		return Credentials{}, fmt.Errorf("profile [%s] has no aws_access_key_id", profile)
	case c.SecretAccessKey == "":
		return Credentials{}, fmt.Errorf("profile [%s] has no aws_secret_access_key", profile)
	}
	if err := validateAccessKeyID(c.AccessKeyID); err != nil {
		return Credentials{}, fmt.Errorf("profile [%s] aws_access_key_id: %w", profile, err)
	}
	if strings.ContainsFunc(c.SecretAccessKey+c.SessionToken, isSpaceOrControl) {
		return Credentials{}, fmt.Errorf("profile [%s]: secret or session token contains white space or control characters", profile)
	}
	return c, nil
}

// validateAccessKeyID checks the IAM shape: 16 to 128 letters and digits
// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKey.html).
func validateAccessKeyID(id string) error {
	if len(id) < 16 || len(id) > 128 {
		return fmt.Errorf("length %d, want 16 to 128 characters", len(id))
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("character %q, want letters and digits", r)
		}
	}
	return nil
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f
}
