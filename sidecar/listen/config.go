package listen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/option"
)

// Config holds the listener's TLS and client-authentication options; the
// proxy embeds it in its own configuration (env tags are prefixed with
// SIGV4_).
type Config struct {
	TLSCertFile      string `env:"TLS_CERT_FILE" flag:"tls-cert-file" help:"PEM certificate chain the proxy listener serves TLS with (TLS 1.2 minimum, HTTP/2 by ALPN); re-read when it changes, the last good one kept. Needs --tls-key-file"`
	TLSKeyFile       string `env:"TLS_KEY_FILE" flag:"tls-key-file" help:"PEM private key of --tls-cert-file; re-read with it"`
	ClientCAFile     string `env:"CLIENT_CA_FILE" flag:"client-ca-file" help:"PEM CA certificates that sign client certificates (mutual TLS, needs --tls-cert-file); a client is named by its certificate's URI SAN (a SPIFFE ID), else DNS SAN, else subject CN. With it or --client-tokens-file, a request without a credential gets 401 client_unauthenticated. Re-read when it changes"`
	ClientTokensFile string `env:"CLIENT_TOKENS_FILE" flag:"client-tokens-file" help:"bearer tokens clients may send (Authorization: Bearer TOKEN or Proxy-Authorization: Bearer TOKEN), one line NAME SHA256-HEX-OF-TOKEN each (# comments); the header is removed before signing. Re-read when it changes"`
	ClientKeysFile   string `env:"CLIENT_KEYS_FILE" flag:"client-keys-file" help:"SigV4 client keys for apps that use an AWS SDK or the CLI, one line ACCESS_KEY_ID SECRET_ACCESS_KEY NAME each (# comments): local keys worth nothing at AWS. A request signed with one is verified (signature, scope, date, payload hash), its client is NAME, and it is re-signed with the proxy's credentials. Re-read when it changes"`
	H2C              bool   `env:"H2C" flag:"h2c" envDefault:"false" help:"also accept cleartext HTTP/2 with prior knowledge (h2c, gRPC clients on a trusted network) on --listen; over TLS HTTP/2 is negotiated by ALPN instead"`
}

// TLS reports whether the listener serves TLS.
func (c Config) TLS() bool { return c.TLSCertFile != "" }

// Authenticates reports whether clients must present a credential.
func (c Config) Authenticates() bool {
	return c.ClientCAFile != "" || c.ClientTokensFile != "" || c.ClientKeysFile != ""
}

// Check validates the options and reads each file once, so that a start
// with a missing, unreadable or malformed file fails with an *option.Error
// naming it.
func (c Config) Check() error {
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return &option.Error{Flag: "tls-key-file", Value: "", Problem: "--tls-cert-file is set: give its key too"}
	case c.TLSKeyFile != "" && c.TLSCertFile == "":
		return &option.Error{Flag: "tls-cert-file", Value: "", Problem: "--tls-key-file is set: give its certificate too"}
	case c.ClientCAFile != "" && c.TLSCertFile == "":
		return &option.Error{Flag: "client-ca-file", Value: c.ClientCAFile, Problem: "client certificates need TLS: set --tls-cert-file and --tls-key-file"}
	case c.H2C && c.TLSCertFile != "":
		return &option.Error{Flag: "h2c", Value: "true", Problem: "h2c is cleartext HTTP/2; with --tls-cert-file HTTP/2 is negotiated by ALPN: drop --h2c"}
	}
	if c.TLSCertFile != "" {
		contents, err := readAll([]string{c.TLSCertFile, c.TLSKeyFile})
		if err == nil {
			_, err = parseServingCertificate(c.TLSCertFile, c.TLSKeyFile)(contents)
		}
		if err != nil {
			return fileOptionError(err, "tls-cert-file", c.TLSCertFile, "tls-key-file", c.TLSKeyFile)
		}
	}
	if c.ClientCAFile != "" {
		contents, err := readAll([]string{c.ClientCAFile})
		if err == nil {
			_, err = parseClientCA(c.ClientCAFile)(contents)
		}
		if err != nil {
			return fileOptionError(err, "client-ca-file", c.ClientCAFile)
		}
	}
	if c.ClientTokensFile != "" {
		contents, err := readAll([]string{c.ClientTokensFile})
		if err == nil {
			_, err = ParseTokens(c.ClientTokensFile, contents[0])
		}
		if err != nil {
			return fileOptionError(err, "client-tokens-file", c.ClientTokensFile)
		}
	}
	if c.ClientKeysFile != "" {
		contents, err := readAll([]string{c.ClientKeysFile})
		if err == nil {
			_, err = ParseClientKeys(c.ClientKeysFile, contents[0])
		}
		if err != nil {
			return fileOptionError(err, "client-keys-file", c.ClientKeysFile)
		}
	}
	return nil
}

// fileOptionError turns a *FileError into an *option.Error for the option
// (flag, value pairs) whose file it names; the first pair otherwise.
func fileOptionError(err error, pairs ...string) error {
	flag, value := pairs[0], pairs[1]
	var fe *FileError
	if errors.As(err, &fe) {
		for i := 0; i < len(pairs); i += 2 {
			if fe.Path == pairs[i+1] {
				flag, value = pairs[i], pairs[i+1]
			}
		}
	}
	return &option.Error{Flag: flag, Value: value, Problem: err.Error()}
}

// Files are the listener's files, each re-read when it changes. A nil
// field is an option left unset. Safe for concurrent use.
type Files struct {
	cfg         Config
	Certificate *Watched[*tls.Certificate]
	ClientCA    *Watched[*x509.CertPool]
	Tokens      *Watched[*Tokens]
	Keys        *Watched[*ClientKeys]
}

// Open reads the files cfg names and watches them until ctx ends, checking
// every interval (0: DefaultReloadInterval). log receives one line per
// reload and one ERROR line per refused new content.
func Open(ctx context.Context, cfg Config, log *slog.Logger, interval time.Duration) (*Files, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	f := &Files{cfg: cfg}
	var err error
	if cfg.TLSCertFile != "" {
		f.Certificate, err = NewWatched(ctx, log, "serving certificate (--tls-cert-file, --tls-key-file)", interval,
			parseServingCertificate(cfg.TLSCertFile, cfg.TLSKeyFile), cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fileOptionError(err, "tls-cert-file", cfg.TLSCertFile, "tls-key-file", cfg.TLSKeyFile)
		}
	}
	if cfg.ClientCAFile != "" {
		f.ClientCA, err = NewWatched(ctx, log, "client CA (--client-ca-file)", interval, parseClientCA(cfg.ClientCAFile), cfg.ClientCAFile)
		if err != nil {
			return nil, fileOptionError(err, "client-ca-file", cfg.ClientCAFile)
		}
	}
	if cfg.ClientTokensFile != "" {
		f.Tokens, err = NewWatched(ctx, log, "client tokens (--client-tokens-file)", interval, func(c [][]byte) (*Tokens, error) {
			return ParseTokens(cfg.ClientTokensFile, c[0])
		}, cfg.ClientTokensFile)
		if err != nil {
			return nil, fileOptionError(err, "client-tokens-file", cfg.ClientTokensFile)
		}
	}
	if cfg.ClientKeysFile != "" {
		f.Keys, err = NewWatched(ctx, log, "client keys (--client-keys-file)", interval, func(c [][]byte) (*ClientKeys, error) {
			return ParseClientKeys(cfg.ClientKeysFile, c[0])
		}, cfg.ClientKeysFile)
		if err != nil {
			return nil, fileOptionError(err, "client-keys-file", cfg.ClientKeysFile)
		}
	}
	return f, nil
}

// Config returns the options the files were opened with.
func (f *Files) Config() Config { return f.cfg }
