package mitm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/option"
)

func newCA(t *testing.T, lifetime time.Duration) (dir string, ca *CA) {
	t.Helper()
	dir = t.TempDir()
	if _, err := Create(dir, lifetime, time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{CACertFile: filepath.Join(dir, CACertFile), CAKeyFile: filepath.Join(dir, CAKeyFile)}
	ca, err := cfg.parse(time.Now)(nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, ca
}

func TestCreateWritesACAWithAPrivateKeyFileAndRefusesToOverwrite(t *testing.T) {
	dir, ca := newCA(t, 7*24*time.Hour)
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode = %v, want 0600", st.Mode().Perm())
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("not a path-length-0 CA: IsCA=%v MaxPathLen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains) != 0 {
		t.Errorf("name constraints set")
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", c.PublicKey)
	}
	if left := time.Until(c.NotAfter); left < 7*24*time.Hour-time.Minute || left > 7*24*time.Hour {
		t.Errorf("NotAfter in %v, want 7 days", left)
	}
	before, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if _, err := Create(dir, time.Hour, time.Now()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Create: %v, want a refusal", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if string(before) != string(after) {
		t.Error("the key was overwritten")
	}
}

func TestCheckRefusesAMismatchedKeyAnExpiredCAAndALeafNamingTheFile(t *testing.T) {
	dirA, _ := newCA(t, time.Hour)
	dirB, _ := newCA(t, time.Hour)
	certA, keyB := filepath.Join(dirA, CACertFile), filepath.Join(dirB, CAKeyFile)

	// An expired CA and a non-CA certificate, each with its own key.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	write := func(name string, tmpl *x509.Certificate) (string, string) {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		dir := t.TempDir()
		c, k := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
		os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
		return c, k
	}
	expiredCert, expiredKey := write("expired", &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	leafCert, leafKey := write("leaf", &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true})

	for _, tc := range []struct {
		name       string
		cfg        Config
		flag, want string
	}{
		{"mismatched key", Config{CACertFile: certA, CAKeyFile: keyB}, "mitm-ca-key", "is not the private key of the certificate in " + certA},
		{"expired", Config{CACertFile: expiredCert, CAKeyFile: expiredKey}, "mitm-ca-cert", "the CA expired at"},
		{"not a CA", Config{CACertFile: leafCert, CAKeyFile: leafKey}, "mitm-ca-cert", "is not a CA certificate"},
		{"key missing", Config{CACertFile: certA}, "mitm-ca-key", "give its key too"},
		{"cert missing", Config{CAKeyFile: keyB}, "mitm-ca-cert", "give its certificate too"},
		{"unreadable", Config{CACertFile: filepath.Join(dirA, "nope.crt"), CAKeyFile: keyB}, "mitm-ca-cert", "nope.crt: cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			var oe *option.Error
			if !errors.As(err, &oe) || oe.Flag != tc.flag || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error on --%s containing %q", err, tc.flag, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error quotes a key: %v", err)
			}
		})
	}
	if err := (Config{CACertFile: certA, CAKeyFile: filepath.Join(dirA, CAKeyFile)}).Check(); err != nil {
		t.Errorf("a good pair: %v", err)
	}
}

func TestLeafNamesOnlyItsHostChainsToTheCAAndIsCachedWithinABound(t *testing.T) {
	_, ca := newCA(t, 48*time.Hour)
	a := NewAuthority(ca, time.Now, 2)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, host := range []string{"sqs.eu-west-1.amazonaws.com", "127.0.0.1"} {
		cert, err := a.Leaf(host)
		if err != nil {
			t.Fatal(err)
		}
		leaf := cert.Leaf
		names := len(leaf.DNSNames) + len(leaf.IPAddresses) + len(leaf.URIs) + len(leaf.EmailAddresses)
		if names != 1 {
			t.Errorf("%s: leaf has %d names (%v %v), want the host alone", host, names, leaf.DNSNames, leaf.IPAddresses)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "sts.amazonaws.com", Roots: roots}); err == nil {
			t.Errorf("%s: the leaf also verifies for another host", host)
		}
		if life := leaf.NotAfter.Sub(time.Now()); life > LeafLifetime || life < LeafLifetime-time.Minute {
			t.Errorf("%s: leaf valid for %v more, want %v", host, life, LeafLifetime)
		}
		if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Errorf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
		}
		again, _ := a.Leaf(host)
		if again != cert {
			t.Errorf("%s: a second handshake minted a new leaf", host)
		}
	}
	first, _ := a.Leaf("a.amazonaws.com")
	a.Leaf("b.amazonaws.com")
	a.Leaf("c.amazonaws.com")
	if len(a.hosts) != 2 || a.order.Len() != 2 {
		t.Errorf("cache holds %d leaves, bound 2", len(a.hosts))
	}
	if again, _ := a.Leaf("a.amazonaws.com"); again == first {
		t.Error("the least recently used leaf was not evicted")
	}
}

// TestLeafOfAShortLivedCAIsCachedAndDoesNotOutliveIt: a CA with half an
// hour left gives leaves that end with it, and they are still cached (a
// leaf was minted anew for every tunnel when renewal was an hour before
// the end, whatever the leaf's lifetime).
func TestLeafOfAShortLivedCAIsCachedAndDoesNotOutliveIt(t *testing.T) {
	_, ca := newCA(t, 30*time.Minute)
	a := NewAuthority(ca, time.Now, 0)
	cert, err := a.Leaf("s3.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("leaf ends %v, after its CA %v", cert.Leaf.NotAfter, ca.Cert.NotAfter)
	}
	if again, _ := a.Leaf("s3.amazonaws.com"); again != cert {
		t.Error("the leaf was minted anew instead of taken from the cache")
	}
}

// BenchmarkLeaf: a tunnel to a host seen before takes its leaf from the
// cache; one to a new host mints one (an ECDSA P-256 key and a signature).
func BenchmarkLeaf(b *testing.B) {
	dir := b.TempDir()
	if _, err := Create(dir, 48*time.Hour, time.Now()); err != nil {
		b.Fatal(err)
	}
	ca, err := (Config{CACertFile: filepath.Join(dir, CACertFile), CAKeyFile: filepath.Join(dir, CAKeyFile)}).parse(time.Now)(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		a := NewAuthority(ca, time.Now, 0)
		a.Leaf("sqs.us-east-1.amazonaws.com")
		for b.Loop() {
			a.Leaf("sqs.us-east-1.amazonaws.com")
		}
	})
	b.Run("minted", func(b *testing.B) {
		for b.Loop() {
			if _, err := mint(ca, "sqs.us-east-1.amazonaws.com", time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
