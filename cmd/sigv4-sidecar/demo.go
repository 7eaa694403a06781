package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// maxDemoBody bounds what the demo upstream reads of a request body.
const maxDemoBody = 1 << 20

// runDemo starts the proxy in front of a built-in upstream that verifies
// SigV4 and SigV4a with the signer's verifier and AWS's example keys, prints
// a curl line to try, and serves until interrupted. With --region-set the
// proxy signs with SigV4a, as it does for S3 Multi-Region Access Points. No
// AWS account is involved.
func runDemo(ctx context.Context, inv invocation) error {
	fs := inv.flags("demo",
		"Usage: sigv4-sidecar demo [--listen ADDR]",
		"Runs the proxy in front of a local upstream that verifies SigV4 and SigV4a (--region-set) with AWS's example keys; no AWS account needed.")
	listen := fs.String("listen", "127.0.0.1:8080", "address the demo proxy listens on")
	upstreamListen := fs.String("upstream-listen", "127.0.0.1:0", "address the demo upstream listens on")
	service := fs.String("service", "execute-api", "signing name the proxy signs with and the upstream expects")
	region := fs.String("region", "us-east-1", "signing region the proxy signs with and the upstream expects")
	payload := fs.String("payload", sidecar.PayloadAuto, "how bodies are signed, as serve's --payload")
	regionSet := fs.String("region-set", "", "sign with SigV4a for these comma-separated regions (* for all), as serve's --region-set; the upstream requires --region to be in the set")
	if err := fs.parse(inv.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	upLn, err := net.Listen("tcp", *upstreamListen)
	if err != nil {
		return fmt.Errorf("listen on --upstream-listen %s: %w", *upstreamListen, err)
	}
	upstream := &http.Server{Handler: &demoUpstream{service: *service, region: *region}, ReadHeaderTimeout: 10 * time.Second}
	go upstream.Serve(upLn)
	defer upstream.Close()

	// Defaults of every other option, as serve would have them with no
	// flags and no SIGV4_ variables.
	cfg, err := defaultConfig()
	if err != nil {
		return err
	}
	cfg.Listen, cfg.AdminListen = *listen, "127.0.0.1:0"
	cfg.Upstream = "http://" + upLn.Addr().String()
	cfg.Service, cfg.Region, cfg.Payload = *service, *region, *payload
	if *regionSet != "" {
		cfg.RegionSet = strings.Split(*regionSet, ",")
	}
	cfg.LogFormat = "text"
	if err := cfg.Validate(); err != nil {
		return err
	}
	src := &staticSource{c: creds.Credentials{AccessKeyID: exampleAccessKeyID, SecretAccessKey: exampleSecretAccessKey, Source: "demo (AWS documentation example keys)"}}
	srv := &sidecar.Server{
		Config:      cfg,
		Credentials: src,
		Log:         slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Listening: func(proxyAddr, _ net.Addr) {
			fmt.Fprintf(inv.stdout, "demo upstream: http://%s verifies SigV4 and SigV4a (keys %s, service %s, region %s)\n", upLn.Addr(), exampleAccessKeyID, *service, *region)
			if len(cfg.RegionSet) > 0 {
				fmt.Fprintf(inv.stdout, "proxy:         http://%s signs every request with SigV4a (%s, region set %s) and forwards it there\n", proxyAddr, signer.AlgorithmV4a, strings.Join(cfg.RegionSet, ","))
			} else {
				fmt.Fprintf(inv.stdout, "proxy:         http://%s signs every request with SigV4 and forwards it there\n", proxyAddr)
			}
			fmt.Fprintf(inv.stdout, "try:\n  curl -s 'http://%s/hello?name=world' -d 'hi there'\n", proxyAddr)
			fmt.Fprintln(inv.stdout, "(the answer shows what the upstream received and whether the signature verified; Ctrl-C stops the demo)")
			if len(cfg.RegionSet) == 0 {
				fmt.Fprintln(inv.stdout, "(SigV4a, as for S3 Multi-Region Access Points: sigv4-sidecar demo --region-set '*')")
			}
		},
	}
	return srv.Run(ctx)
}

// staticSource serves fixed credentials; Invalidate has nothing to refresh.
type staticSource struct{ c creds.Credentials }

func (s *staticSource) Retrieve(context.Context) (creds.Credentials, error) { return s.c, nil }
func (s *staticSource) Invalidate(string)                                   {}

var _ creds.Source = (*staticSource)(nil)

// demoUpstream answers every request with what it received and whether
// its SigV4 or SigV4a signature verified against AWS's example keys (for
// SigV4a, region must be in the signed region set, as a service checks).
type demoUpstream struct {
	service, region string
}

// demoAnswer is the upstream's JSON answer.
type demoAnswer struct {
	Verified      bool              `json:"verified"`
	Algorithm     string            `json:"algorithm,omitempty"`
	RegionSet     string            `json:"region_set,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	Problems      []string          `json:"problems,omitempty"`
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Query         string            `json:"query,omitempty"`
	Scope         string            `json:"scope,omitempty"`
	SignedHeaders string            `json:"signed_headers,omitempty"`
	Headers       map[string]string `json:"headers"`
	BodyBytes     int               `json:"body_bytes"`
}

func (u *demoUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: exampleAccessKeyID, SecretAccessKey: exampleSecretAccessKey}, id == exampleAccessKeyID
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxDemoBody)
	res, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: u.service, Region: u.region, HashBody: true})
	body, _ := io.ReadAll(r.Body)
	a := demoAnswer{
		Verified: err == nil, Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Scope: res.Scope, SignedHeaders: res.SignedHeaders, Headers: map[string]string{}, BodyBytes: len(body),
		RegionSet: res.RegionSet,
	}
	if auth, _ := signer.ParseAuthorization(r.Header.Get("Authorization")); auth.Algorithm != "" {
		a.Algorithm = auth.Algorithm
	}
	a.Headers["Host"] = r.Host
	for name, values := range r.Header {
		v := strings.Join(values, ", ")
		if name == "Authorization" {
			// The example keys protect nothing, but the habit is the point:
			// a signature never reaches an output.
			if i := strings.Index(v, "Signature="); i >= 0 {
				v = v[:i] + "Signature=<hidden>"
			}
		}
		a.Headers[name] = v
	}
	status := http.StatusOK
	if err != nil {
		a.Reason = err.Error()
		status = http.StatusForbidden
		// Package diagnose reads SigV4 requests: it would call a SigV4a
		// one's algorithm, scope and signature wrong. The verifier's
		// reason says what is.
		if a.Algorithm != signer.AlgorithmV4a {
			for _, p := range diagnose.Request(r, diagnose.Options{Now: time.Now(), Service: u.service, Region: u.region}) {
				a.Problems = append(a.Problems, p.String()+" (fix: "+sidecar.Advice(p.Code)+")")
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(a)
}
