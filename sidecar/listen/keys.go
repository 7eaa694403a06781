package listen

import (
	"errors"
	"fmt"
)

// ClientKeys are the SigV4 client keys of a --client-keys-file: local access
// key pairs the operator hands to apps (worth nothing at AWS), each naming
// the client that signs with it. The proxy verifies a request signed with
// one of them and re-signs it with its real credentials. Safe for
// concurrent use (it is never changed).
type ClientKeys struct {
	byID  map[string]keyEntry
	names []string // key ids in file order
}

// keyEntry is one line of the file. secret is only ever handed to the
// signer's verifier.
type keyEntry struct {
	secret, name string
}

// Len is the number of keys.
func (k *ClientKeys) Len() int { return len(k.names) }

// Lookup returns the secret access key and the client name of accessKeyID.
// Access key ids are not secret, so a map lookup's timing gives nothing
// away; the secret is compared by the verifier as an HMAC, in constant time.
func (k *ClientKeys) Lookup(accessKeyID string) (secret, name string, ok bool) {
	c, ok := k.byID[accessKeyID]
	return c.secret, c.name, ok
}

// ParseClientKeys reads a client-keys file: one ACCESS_KEY_ID
// SECRET_ACCESS_KEY NAME per line, separated by spaces or tabs; blank lines
// and lines starting with # are skipped. A malformed line or an access key
// id given twice is an error naming path and the line, never quoting the
// secret. One NAME may hold several keys (to rotate them). A file with no
// key is refused: it would lock every SDK client out.
func ParseClientKeys(path string, contents []byte) (*ClientKeys, error) {
	k := &ClientKeys{byID: map[string]keyEntry{}}
	lines := map[string]int{}
	err := parseLines(path, contents, "key", "ACCESS_KEY_ID SECRET_ACCESS_KEY NAME", func(line int, fields []string) error {
		id, secret, name := fields[0], fields[1], fields[2]
		if !validAccessKeyID(id) {
			return errors.New("ACCESS_KEY_ID must be 16 to 128 letters and digits")
		}
		if len(secret) < 16 || len(secret) > 128 {
			// Its length only: the value is a secret.
			return fmt.Errorf("SECRET_ACCESS_KEY must be 16 to 128 characters, found %d", len(secret))
		}
		if !validName(name) {
			return errors.New("NAME may hold letters, digits and . _ - : / @ only")
		}
		if prev, ok := lines[id]; ok {
			return fmt.Errorf("access key id %s is already on line %d", id, prev)
		}
		lines[id] = line
		k.byID[id] = keyEntry{secret: secret, name: name}
		k.names = append(k.names, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// validAccessKeyID is AWS's shape of an access key id (IAM's AccessKeyId:
// 16 to 128 word characters), letters and digits only, so that it cannot
// break the Credential of an Authorization header or a log line.
func validAccessKeyID(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
