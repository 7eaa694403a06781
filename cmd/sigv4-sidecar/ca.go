package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
)

const caUsage = "Usage: sigv4-sidecar ca init DIR [--days N]"

// runCA creates the CA that --mitm-ca-cert and --mitm-ca-key name (issue
// 19): `ca init DIR` writes DIR/ca.crt and DIR/ca.key, never over existing
// files, and says how long the CA lasts and how to use it.
func runCA(ctx context.Context, inv invocation) error {
	args := inv.args
	if inv.listFlags == nil {
		switch {
		case len(args) == 1 && isHelp(args[0]):
			fmt.Fprintln(inv.stderr, caUsage)
			return nil
		case len(args) == 0 || args[0] != "init":
			return &exitError{code: 2, msg: "want `ca init DIR`: " + caUsage}
		}
		args = args[1:]
	}
	fs := inv.flags("ca init", caUsage,
		"Creates a CA (ECDSA P-256, signs leaves only) for --mitm-ca-cert and --mitm-ca-key: DIR/ca.crt and DIR/ca.key (mode 0600). Refuses to overwrite them.")
	days := fs.Int("days", int(mitm.DefaultCALifetime/(24*time.Hour)), "days the CA is valid (1-3650); keep it short and make a new one before it ends")
	positional, err := fs.parseInterspersed(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(positional) != 1 {
		return &exitError{code: 2, msg: "want one directory: " + caUsage}
	}
	if *days < 1 || *days > 3650 {
		return &exitError{code: 2, msg: fmt.Sprintf("invalid --days %d: want 1-3650", *days)}
	}
	dir := positional[0]
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cert, err := mitm.Create(dir, time.Duration(*days)*24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, mitm.CACertFile), filepath.Join(dir, mitm.CAKeyFile)
	fmt.Fprintf(inv.stdout, "wrote %s (the CA certificate clients trust) and %s (its key, mode 0600: keep it with the proxy only)\n", certPath, keyPath)
	fmt.Fprintf(inv.stdout, "valid for %d days, until %s; before then, run ca init into a new directory and switch the proxy's files (it re-reads them)\n",
		*days, cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(inv.stdout, "proxy:   sigv4-sidecar serve --mitm-ca-cert %s --mitm-ca-key %s\n", certPath, keyPath)
	fmt.Fprintf(inv.stdout, "clients: HTTPS_PROXY=http://127.0.0.1:8080 AWS_CA_BUNDLE=%s\n", certPath)
	return nil
}
