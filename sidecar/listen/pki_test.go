package listen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// mintCertificate returns a PEM certificate for tmpl signed by parent (self
// signed when parent is nil) and its PEM key.
func mintCertificate(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return cert, key,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestIdentityOf(t *testing.T) {
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/app/sa/reader")
	for _, tc := range []struct {
		name string
		cert x509.Certificate
		want string
	}{
		{"URI SAN first", x509.Certificate{URIs: []*url.URL{spiffe}, DNSNames: []string{"app.svc"}, Subject: pkix.Name{CommonName: "cn"}}, "spiffe://cluster.local/ns/app/sa/reader"},
		{"else DNS SAN", x509.Certificate{DNSNames: []string{"app.svc", "b"}, Subject: pkix.Name{CommonName: "cn"}}, "app.svc"},
		{"else CN", x509.Certificate{Subject: pkix.Name{CommonName: "cn"}}, "cn"},
		{"nothing", x509.Certificate{}, ""},
	} {
		if got := IdentityOf(&tc.cert); got != tc.want {
			t.Errorf("%s: IdentityOf = %q, want %q", tc.name, got, tc.want)
		}
	}
}
