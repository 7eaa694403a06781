package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// AWS's documented example keys (the SigV4 test suite's), which sign
// anything reproducibly and open nothing.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
const (
	exampleAccessKeyID     = "AKIDEXAMPLE"
	exampleSecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// headerList is a repeatable -H 'Name: value' flag.
type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// explainRequest is one request to explain: what curl would send.
type explainRequest struct {
	method  string
	url     string
	headers []string // "Name: value"
	body    string
	service string // overrides, as --service/--region for serve
	region  string
	// regionSet is --region-set, comma-separated: SigV4a for these
	// regions, as serve's.
	regionSet string
	payload   string // auto, signed, unsigned
	// contentSHA256 is serve's --content-sha256: auto or always.
	contentSHA256 string
	// preserve is serve's --preserve-authorization-as.
	preserve string
	time     time.Time
	// set are a route's add-headers, set over the client's.
	set []route.Header
}

// explained is what signing one request produced, for printing.
type explained struct {
	req      *http.Request
	endpoint string // how service and region were found
	service  string
	region   string
	// regionSet is the SigV4a region set signed for; nil: SigV4.
	regionSet []string
	payload   string
	// rule says which row of the payload table applied, or that none did.
	rule string
	// preserved is the --preserve-authorization-as header, "" for none:
	// its value is hidden in the output.
	preserved string
	result    signer.Result
	route     string // the route signed as, and where it is written; "" for none
	// sessionBucket is the S3 Express directory bucket whose session the
	// proxy would sign with instead of the credentials (sidecar.SessionBucket).
	sessionBucket string
}

// runExplain signs a request the way the proxy would and prints every
// intermediate step: scope, signed headers, canonical request, string to
// sign and Authorization header. It sends nothing and prints no secret.
func runExplain(ctx context.Context, inv invocation) error {
	fs := inv.flags("explain",
		"Usage: sigv4-sidecar explain [-X METHOD] [-H 'Name: value']... [-d BODY] [--example-credentials] [--config FILE] [--route NAME] URL",
		"Signs the request as the proxy would and prints scope, canonical request, string to sign and Authorization header. Sends nothing.")
	var er explainRequest
	var headers headerList
	fs.StringVar(&er.method, "X", "", "HTTP method (default GET, or POST with -d)")
	fs.Var(&headers, "H", "request header 'Name: value', repeatable")
	fs.StringVar(&er.body, "d", "", "request body")
	fs.StringVar(&er.service, "service", "", "signing name instead of the one derived from the host (as serve's --service)")
	fs.StringVar(&er.region, "region", "", "signing region instead of the one derived from the host (as serve's --region)")
	fs.StringVar(&er.regionSet, "region-set", "", "sign with SigV4a for these comma-separated regions (as serve's --region-set; default: SigV4a with * for the hosts that demand it)")
	fs.StringVar(&er.payload, "payload", sidecar.PayloadAuto, "how the body is signed: auto, signed, unsigned or chunked (as serve's --payload, with its default --body-memory)")
	fs.StringVar(&er.contentSHA256, "content-sha256", sidecar.ContentSHA256Auto, "when X-Amz-Content-Sha256 is sent: auto or always (as serve's --content-sha256)")
	fs.StringVar(&er.preserve, "preserve-authorization-as", "", "header the -H Authorization is copied to and signed under, its value hidden in the output (as serve's --preserve-authorization-as)")
	date := fs.String("date", "", "signing time, 20150830T123600Z or RFC 3339 (default: now)")
	example := fs.Bool("example-credentials", false, "sign with AWS's documented example keys (AKIDEXAMPLE) instead of the configured credentials, so that explain runs anywhere")
	credsCfg := fs.credentialOptions(inv.environ)
	rf := fs.routeOptions()
	args, err := fs.parseInterspersed(inv.args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return &exitError{code: 2, msg: "explain takes exactly one URL (see sigv4-sidecar explain --help)"}
	}
	er.url, er.headers = args[0], headers
	if er.time, err = parseSigningTime(*date); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}

	var routeName string
	if rf.config != "" || rf.route != "" {
		u, err := parseTargetURL(er.url)
		if err != nil {
			return err
		}
		rt, err := rf.resolve(fs, inv.environ, u)
		if err != nil {
			return err
		}
		if err := er.asRoute(rt, u, func(name string) bool { return visited(fs, name) }); err != nil {
			return err
		}
		*credsCfg, routeName = rt.cfg.Config, rt.where
	}
	keys, source, err := signingKeys(ctx, *example, *credsCfg)
	if err != nil {
		return err
	}
	x, err := explain(er, keys)
	if err != nil {
		return err
	}
	x.route = routeName
	printExplained(inv.stdout, x, source, keys)
	return nil
}

// asRoute makes er the request rt's route sends for a request to u: to
// its upstream (fixed mode), with its sign-host and add-headers, signed
// for its service, region, region set and payload unless given is true of
// that flag.
func (er *explainRequest) asRoute(rt *routed, u *url.URL, given func(flag string) bool) error {
	target, err := rt.cfg.TargetURL(u)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	er.url = target.String()
	if rt.cfg.SignHost != "" {
		er.headers = append(er.headers, "Host: "+rt.cfg.SignHost)
	}
	er.set = rt.route.AddHeaders
	for _, o := range []struct {
		flag       string
		dst        *string
		routeValue string
	}{{"service", &er.service, rt.cfg.Service}, {"region", &er.region, rt.cfg.Region}, {"payload", &er.payload, rt.cfg.Payload},
		{"content-sha256", &er.contentSHA256, rt.cfg.ContentSHA256}, {"preserve-authorization-as", &er.preserve, rt.cfg.PreserveAuthorizationAs}} {
		if !given(o.flag) {
			*o.dst = o.routeValue
		}
	}
	if !given("region-set") {
		er.regionSet = strings.Join(rt.cfg.RegionSet, ",")
	}
	return nil
}

func parseSigningTime(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC(), nil
	}
	for _, layout := range []string{"20060102T150405Z", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid --date %q: want 20150830T123600Z or 2015-08-30T12:36:00Z", s)
}

// scopeSource says where endpoint.SigningFor's answer for host with the
// service, region and region set overrides came from: the overrides, the
// endpoint table's rule, or both.
func scopeSource(host, service, region string, regionSet []string) string {
	var how string
	switch {
	case service != "" && region != "":
		how = "--service and --region"
	case service != "" && len(regionSet) > 0:
		how = "--service"
	default:
		ep, _ := endpoint.Resolve(host)
		how = "endpoint rule " + ep.Rule
		if service != "" {
			how += ", --service"
		}
		if region != "" {
			how += ", --region"
		}
	}
	if len(regionSet) > 0 {
		how += ", --region-set"
	}
	return how
}

// explain signs er with keys and returns every intermediate step.
func explain(er explainRequest, keys signer.Credentials) (explained, error) {
	var x explained
	u, err := parseTargetURL(er.url)
	if err != nil {
		return x, err
	}
	method := er.method
	if method == "" {
		method = http.MethodGet
		if er.body != "" {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if er.body != "" {
		body = strings.NewReader(er.body)
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return x, &exitError{code: 2, msg: fmt.Sprintf("invalid request: %v", err)}
	}
	for _, h := range er.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return x, &exitError{code: 2, msg: fmt.Sprintf("invalid -H %q: want 'Name: value'", h)}
		}
		if strings.EqualFold(name, "Host") {
			req.Host = strings.TrimSpace(value)
			continue
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
	for _, h := range er.set {
		req.Header.Set(h.Name, h.Value)
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	// serve's defaults (--body-memory decides aws-chunked in auto mode)
	// with explain's overrides.
	cfg, err := defaultConfig()
	if err != nil {
		return x, err
	}
	cfg.Service, cfg.Region, cfg.Payload = er.service, er.region, er.payload
	if er.regionSet != "" {
		cfg.RegionSet = strings.Split(er.regionSet, ",")
	}
	regionSet, err := sidecar.RegionSetOption(cfg.RegionSet)
	if err != nil {
		return x, &exitError{code: 2, msg: err.Error()}
	}
	cfg.ContentSHA256 = er.contentSHA256
	switch cfg.ContentSHA256 {
	case sidecar.ContentSHA256Auto, sidecar.ContentSHA256Always:
	default:
		return x, &exitError{code: 2, msg: fmt.Sprintf("invalid --content-sha256 %q: want auto or always", cfg.ContentSHA256)}
	}
	s, err := endpoint.SigningFor(host, cfg.Service, cfg.Region, regionSet)
	if err != nil {
		return x, err
	}
	x.service, x.region, x.regionSet = s.Service, s.Region, s.RegionSet
	x.endpoint = scopeSource(host, cfg.Service, cfg.Region, regionSet)
	x.rule = payloadRuleLine(x.service)
	cfg.PreserveAuthorizationAs = er.preserve
	if x.preserved, err = cfg.PreserveAuthorization(req.Header); err != nil {
		return x, &exitError{code: 2, msg: err.Error()}
	}
	x.sessionBucket = sidecar.SessionBucket(req, sidecar.Route{Host: host, Service: x.service})
	// A value verifiers canonicalize differently is left unsigned, or
	// refused, as the proxy does.
	unsigned, err := sidecar.UnsignedForValues(req.Header, sidecar.UnsignedByDefault)
	if err != nil {
		return x, &exitError{code: 2, msg: err.Error()}
	}
	opts := signer.Options{
		Service: x.service, Region: x.region, Time: er.time,
		UnsignedHeaders: unsigned, Debug: true,
	}
	mode := cfg.PayloadMode(req, x.service)
	if len(x.regionSet) > 0 {
		opts.Algorithm, opts.RegionSet = signer.SigV4a, x.regionSet
		mode = sidecar.SigV4aPayloadMode(mode)
	}
	switch {
	case er.body == "":
		opts.PayloadHash = sidecar.EmptyPayloadHash(x.service)
		x.payload = "empty body: " + opts.PayloadHash
	case mode == sidecar.PayloadUnsigned:
		opts.PayloadHash, x.payload = signer.UnsignedPayload, signer.UnsignedPayload+" (body not signed)"
	case mode == sidecar.PayloadSigned:
		sum := sha256.Sum256([]byte(er.body))
		opts.PayloadHash = hex.EncodeToString(sum[:])
		x.payload = fmt.Sprintf("SHA-256 of the %d-byte body: %s", len(er.body), opts.PayloadHash)
	case mode == sidecar.PayloadChunked:
		x.payload = fmt.Sprintf("%s (aws-chunked, %d bytes decoded; this is the seed signature)", signer.StreamingPayload, len(er.body))
	default:
		return x, &exitError{code: 2, msg: fmt.Sprintf("invalid --payload %q: want auto, signed, unsigned or chunked", er.payload)}
	}
	if mode == sidecar.PayloadChunked && er.body != "" {
		x.result, err = signer.New(nil).SignStreaming(req, keys, opts, signer.StreamingOptions{DecodedLength: int64(len(er.body))})
	} else {
		opts.SetContentSHA256 = cfg.SendsContentSHA256(x.service, opts.PayloadHash)
		x.result, err = signer.New(nil).Sign(req, keys, opts)
	}
	if err != nil {
		return x, err
	}
	x.req = req
	return x, nil
}

// printExplained writes x in sections "== Name" each followed by its value
// exactly as signed and a blank line. The session token's value and the
// preserved Authorization's are hidden (secrets); the access key id is
// shown, as it is in the Authorization header.
func printExplained(w io.Writer, x explained, source string, keys signer.Credentials) {
	hide := func(s string) string {
		if keys.SessionToken != "" {
			s = strings.ReplaceAll(s, keys.SessionToken, "<session token>")
		}
		for _, v := range x.req.Header.Values(x.preserved) {
			// As sent, and as canonicalized: spaces collapsed.
			for _, form := range []string{strings.TrimSpace(v), strings.Join(strings.Fields(v), " ")} {
				if form != "" {
					s = strings.ReplaceAll(s, form, "<preserved Authorization>")
				}
			}
		}
		return s
	}
	var b bytes.Buffer
	if x.route != "" {
		fmt.Fprintf(&b, "Route:       %s\n", x.route)
	}
	fmt.Fprintf(&b, "Request:     %s %s\n", x.req.Method, x.req.URL.String())
	fmt.Fprintf(&b, "Service:     %s\n", x.service)
	switch {
	case len(x.regionSet) == 0:
		fmt.Fprintf(&b, "Region:      %s\n", x.region)
		fmt.Fprintf(&b, "Algorithm:   %s (SigV4)\n", signer.SigV4)
	default:
		if x.region == "" {
			fmt.Fprintf(&b, "Region:      none (a SigV4a scope has no region)\n")
		} else {
			fmt.Fprintf(&b, "Region:      %s (not part of a SigV4a scope)\n", x.region)
		}
		fmt.Fprintf(&b, "Algorithm:   %s (SigV4a)\n", signer.SigV4a)
		fmt.Fprintf(&b, "Region set:  %s (X-Amz-Region-Set: the signature is valid in these regions)\n", strings.Join(x.regionSet, ","))
	}
	fmt.Fprintf(&b, "From:        %s\n", x.endpoint)
	fmt.Fprintf(&b, "Credentials: %s, access key id %s", source, keys.AccessKeyID)
	if keys.SessionToken != "" {
		b.WriteString(", with a session token (its value is hidden below)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Payload:     %s\n", x.payload)
	fmt.Fprintf(&b, "Payload row: %s\n", x.rule)
	if x.sessionBucket != "" {
		fmt.Fprintf(&b, "Session:     S3 Express: the proxy signs this with a session of bucket %s that CreateSession makes with these credentials, its token in x-amz-s3session-token; explain makes none and signs with the credentials\n", x.sessionBucket)
	}
	section := func(name, value string) {
		fmt.Fprintf(&b, "\n== %s\n%s\n", name, value)
	}
	section("Scope", x.result.Scope)
	section("Signed headers", x.result.SignedHeaders)
	section("Canonical request", hide(x.result.CanonicalRequest))
	section("String to sign", x.result.StringToSign)
	section("Authorization", x.req.Header.Get("Authorization"))
	var sent strings.Builder
	host := x.req.Host
	if host == "" {
		host = x.req.URL.Host
	}
	fmt.Fprintf(&sent, "%s %s HTTP/1.1\nHost: %s", x.req.Method, x.req.URL.RequestURI(), host)
	if x.req.ContentLength > 0 {
		fmt.Fprintf(&sent, "\nContent-Length: %d", x.req.ContentLength)
	}
	for _, name := range sortedKeys(x.req.Header) {
		for _, v := range x.req.Header[name] {
			fmt.Fprintf(&sent, "\n%s: %s", name, hide(v))
		}
	}
	section("Headers sent", sent.String())
	w.Write(b.Bytes())
}

func sortedKeys(h http.Header) []string { return slices.Sorted(maps.Keys(h)) }

// payloadRuleLine says which row of the payload table signs for service,
// with what it demands and the documentation it comes from, or that none
// does.
func payloadRuleLine(service string) string {
	r, ok := endpoint.PayloadRuleFor(service)
	if !ok {
		return "none for " + service + " in the payload table: X-Amz-Content-Sha256 only with UNSIGNED-PAYLOAD or --content-sha256 always"
	}
	var says []string
	if r.ContentSHA256 {
		says = append(says, "X-Amz-Content-Sha256 required")
	}
	accepts := func(ok bool, what string) {
		if ok {
			says = append(says, what+" accepted")
		} else {
			says = append(says, what+" not accepted")
		}
	}
	accepts(r.SignedPayload, "body hash")
	accepts(r.UnsignedPayload, "UNSIGNED-PAYLOAD")
	accepts(r.AWSChunked, "aws-chunked")
	return fmt.Sprintf("%s: %s (%s)", r.Name, strings.Join(says, ", "), r.Source)
}
