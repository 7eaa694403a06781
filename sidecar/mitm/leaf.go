package mitm

import (
	"container/list"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/option"
)

// Config holds the MITM CA options; the proxy embeds it in its own
// configuration (env tags are prefixed with SIGV4_).
type Config struct {
	CACertFile string `env:"MITM_CA_CERT" flag:"mitm-ca-cert" help:"PEM CA certificate (from sigv4-sidecar ca init) with which the proxy accepts CONNECT host:port (HTTPS_PROXY) for hosts --allow-hosts admits: it terminates TLS with a leaf it mints for that host (24 h) and signs the requests inside as in host mode. Clients must trust this CA (AWS_CA_BUNDLE). Needs --mitm-ca-key; re-read when it changes, the last good one kept"`
	CAKeyFile  string `env:"MITM_CA_KEY" flag:"mitm-ca-key" help:"PEM private key of --mitm-ca-cert (never logged or sent); re-read with it"`
}

// Enabled reports whether the proxy accepts CONNECT.
func (c Config) Enabled() bool { return c.CACertFile != "" }

// Check validates the options and reads the files once, so that a start
// with a missing, mismatched, expired or non-CA pair fails with an
// *option.Error naming the file.
func (c Config) Check() error {
	switch {
	case c.CACertFile != "" && c.CAKeyFile == "":
		return &option.Error{Flag: "mitm-ca-key", Value: "", Problem: "--mitm-ca-cert is set: give its key too"}
	case c.CAKeyFile != "" && c.CACertFile == "":
		return &option.Error{Flag: "mitm-ca-cert", Value: "", Problem: "--mitm-ca-key is set: give its certificate too"}
	case c.CACertFile == "":
		return nil
	}
	if _, err := c.parse(time.Now)(nil); err != nil {
		return c.optionError(err)
	}
	return nil
}

// parse returns the parser of the two files' contents; nil contents are
// read from disk.
func (c Config) parse(now func() time.Time) func([][]byte) (*CA, error) {
	return func(contents [][]byte) (*CA, error) {
		if contents == nil {
			for _, p := range []string{c.CACertFile, c.CAKeyFile} {
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, &listen.FileError{Path: p, Err: err}
				}
				contents = append(contents, b)
			}
		}
		return ParseCA(c.CACertFile, c.CAKeyFile, contents[0], contents[1], now())
	}
}

// optionError names the option whose file err is about.
func (c Config) optionError(err error) error {
	flag, value := "mitm-ca-cert", c.CACertFile
	var fe *listen.FileError
	if errors.As(err, &fe) && fe.Path == c.CAKeyFile {
		flag, value = "mitm-ca-key", c.CAKeyFile
	}
	return &option.Error{Flag: flag, Value: value, Problem: err.Error()}
}

// Leaf certificates.
const (
	// LeafLifetime is how long a minted leaf is valid (less when the CA
	// expires sooner).
	LeafLifetime = 24 * time.Hour
	// leafRenewBefore: a cached leaf this close to its end is minted anew.
	leafRenewBefore = time.Hour
	// DefaultLeafCacheSize bounds the leaves kept, one per host.
	DefaultLeafCacheSize = 1024
)

// Authority mints leaf certificates with the CA current in its files.
// Safe for concurrent use.
type Authority struct {
	load func() *CA // the current CA
	now  func() time.Time

	mu    sync.Mutex
	max   int
	order *list.List // of *leafEntry, most recently used first
	hosts map[string]*list.Element
}

type leafEntry struct {
	host string
	ca   *CA
	cert *tls.Certificate
}

// Open reads the CA cfg names and watches its files until ctx ends,
// checking every interval (0: listen.DefaultReloadInterval): a new pair
// that does not parse or check is logged once at ERROR and the last good
// one stays. It returns nil and no error when cfg is not enabled.
func Open(ctx context.Context, cfg Config, log *slog.Logger, interval time.Duration) (*Authority, error) {
	if err := cfg.Check(); err != nil || !cfg.Enabled() {
		return nil, err
	}
	w, err := listen.NewWatched(ctx, log, "MITM CA (--mitm-ca-cert, --mitm-ca-key)", interval, cfg.parse(time.Now), cfg.CACertFile, cfg.CAKeyFile)
	if err != nil {
		return nil, cfg.optionError(err)
	}
	return newAuthority(w.Load, time.Now, DefaultLeafCacheSize), nil
}

// NewAuthority mints with a fixed CA (tests, tools), keeping up to
// cacheSize leaves.
func NewAuthority(ca *CA, now func() time.Time, cacheSize int) *Authority {
	return newAuthority(func() *CA { return ca }, now, cacheSize)
}

func newAuthority(load func() *CA, now func() time.Time, cacheSize int) *Authority {
	if cacheSize <= 0 {
		cacheSize = DefaultLeafCacheSize
	}
	return &Authority{load: load, now: now, max: cacheSize, order: list.New(), hosts: map[string]*list.Element{}}
}

// CA returns the CA leaves are minted with now.
func (a *Authority) CA() *CA {
	return a.load()
}

// Leaf returns a certificate for host (a DNS name or an IP address,
// without port) signed by the current CA: a cached one while it has more
// than an hour left (half its lifetime, when its CA's end cut it short)
// and the CA has not changed, else a new one (ECDSA P-256; the host is its
// only name).
func (a *Authority) Leaf(host string) (*tls.Certificate, error) {
	if host == "" {
		return nil, errors.New("no host to mint a certificate for")
	}
	ca := a.CA()
	now := a.now()
	a.mu.Lock()
	if el, ok := a.hosts[host]; ok {
		e := el.Value.(*leafEntry)
		// Renewed an hour before its end, or half-way through a leaf cut
		// short by its CA's end.
		leaf := e.cert.Leaf
		renew := min(leafRenewBefore, leaf.NotAfter.Sub(leaf.NotBefore)/2)
		if e.ca == ca && now.Before(leaf.NotAfter.Add(-renew)) {
			a.order.MoveToFront(el)
			a.mu.Unlock()
			return e.cert, nil
		}
	}
	a.mu.Unlock()

	// Minted outside the lock: two handshakes for a new host may both
	// mint, and the later one is cached; either certificate is good.
	cert, err := mint(ca, host, now)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.hosts[host]; ok {
		el.Value = &leafEntry{host: host, ca: ca, cert: cert}
		a.order.MoveToFront(el)
	} else {
		a.hosts[host] = a.order.PushFront(&leafEntry{host: host, ca: ca, cert: cert})
	}
	for a.order.Len() > a.max {
		last := a.order.Back()
		delete(a.hosts, last.Value.(*leafEntry).host)
		a.order.Remove(last)
	}
	return cert, nil
}

// mint signs a new leaf for host with ca.
func mint(ca *CA, host string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(LeafLifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: host},
		// Five minutes back, for a client whose clock is a little behind.
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
