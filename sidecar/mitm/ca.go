package mitm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
)

// CA is a certificate authority the proxy mints leaves with: its
// certificate and private key, checked to belong together. Immutable once
// parsed; safe for concurrent use.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
}

// DefaultCALifetime is how long a CA made by Create is valid when the
// caller gives no lifetime: short, so that a CA copied out of its place
// stops being trusted soon.
const DefaultCALifetime = 30 * 24 * time.Hour

// CAFiles are the names Create writes in its directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Create makes a new CA (ECDSA P-256, path length 0: it signs leaves only)
// valid from now for lifetime, and writes its certificate to dir/ca.crt
// (mode 0644) and its key to dir/ca.key (mode 0600, PKCS #8). It refuses to
// overwrite either file. It returns the certificate written.
func Create(dir string, lifetime time.Duration, now time.Time) (*x509.Certificate, error) {
	if lifetime <= 0 {
		return nil, errors.New("the lifetime must be positive")
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s already exists: refusing to overwrite it (remove it, or choose another directory)", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "sigv4-sidecar MITM CA " + now.UTC().Format("2006-01-02T15:04:05Z")},
		// An hour back, so that a client whose clock is a little behind
		// still accepts it at once.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		// SubjectKeyId: crypto/x509 derives it for a CA.
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	// The key first, created exclusively: a race with another ca init
	// fails here rather than mixing two CAs' halves.
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		os.Remove(keyPath)
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// writeNew creates path (it must not exist) with mode and writes b to it.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists: refusing to overwrite it", path)
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// ParseCA reads a CA from the PEM contents of certPath and keyPath and
// checks, at now, that the certificate is a CA's, is valid, and that the
// key is its own. An error is a *listen.FileError naming the file at fault;
// it never quotes the key.
func ParseCA(certPath, keyPath string, certPEM, keyPEM []byte, now time.Time) (*CA, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, &listen.FileError{Path: certPath, Err: errors.New("holds no PEM certificate")}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, &listen.FileError{Path: certPath, Err: err}
	}
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return nil, &listen.FileError{Path: certPath, Err: errors.New("is not a CA certificate (basic constraints CA:TRUE); create one with `sigv4-sidecar ca init DIR`")}
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, &listen.FileError{Path: certPath, Err: errors.New("is a CA certificate without the certificate-signing key usage")}
	case now.After(cert.NotAfter):
		return nil, &listen.FileError{Path: certPath, Err: fmt.Errorf("the CA expired at %s; create a new one with `sigv4-sidecar ca init DIR`", cert.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(cert.NotBefore):
		return nil, &listen.FileError{Path: certPath, Err: fmt.Errorf("the CA is not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))}
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, &listen.FileError{Path: keyPath, Err: err}
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, &listen.FileError{Path: keyPath, Err: fmt.Errorf("is not the private key of the certificate in %s", certPath)}
	}
	return &CA{Cert: cert, key: key}, nil
}

// parseKey reads the first private key block of keyPEM: PKCS #8, SEC 1 (EC
// PRIVATE KEY) or PKCS #1 (RSA PRIVATE KEY). Its errors never quote it.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	rest := keyPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("holds no PEM private key")
		}
		var k any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue // EC PARAMETERS and the like
		}
		if err != nil {
			return nil, fmt.Errorf("the %s block does not parse", block.Type)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("the %s block is not a signing key", block.Type)
		}
		return s, nil
	}
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24)
	}
	return n.Add(n, big.NewInt(1))
}
