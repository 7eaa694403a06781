package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Clock offsets check reports: beyond warnSkew it warns, beyond
// maxClockSkew AWS rejects signatures ("Signature expired" / "not yet
// current"), so check fails.
const (
	warnSkew     = time.Minute
	maxClockSkew = 15 * time.Minute
)

// getCallerIdentityBody is STS's query-protocol request; the call needs no
// permission, so it proves only that the keys and our signature are good.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
const getCallerIdentityBody = "Action=GetCallerIdentity&Version=2011-06-15"

// runCheck loads the credentials as serve would, proves them with an STS
// GetCallerIdentity call signed by our signer, and reports identity,
// credential source and expiry, clock offset and (with --endpoint) the scope
// the proxy would sign with. Exit 0 when everything is usable, 1 with the
// reason otherwise: a Kubernetes init check.
func runCheck(ctx context.Context, inv invocation) error {
	fs := inv.flags("check",
		"Usage: sigv4-sidecar check [--endpoint URL] [credential options | --config FILE [--route NAME]]",
		"Loads credentials, calls STS GetCallerIdentity signed by the sidecar's signer, and reports identity, expiry and clock offset; exit 0 when usable.")
	endpointURL := fs.String("endpoint", "", "URL the proxy will sign for: report the service and region it would use")
	service := fs.String("service", "", "signing name override, as serve's --service")
	region := fs.String("region", "", "signing region override, as serve's --region")
	timeout := fs.Duration("timeout", 10*time.Second, "limit on loading credentials and calling STS")
	credsCfg := fs.credentialOptions(inv.environ)
	rf := fs.routeOptions()
	if err := fs.parse(inv.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var target *url.URL
	if *endpointURL != "" {
		u, err := url.Parse(*endpointURL)
		if err != nil || u.Host == "" {
			return &exitError{code: 2, msg: fmt.Sprintf("invalid --endpoint %q: want http(s)://host[/path]", *endpointURL)}
		}
		target = u
	}
	rt, err := rf.resolve(fs, inv.environ, target)
	if err != nil {
		return err
	}
	scope := sidecar.Config{Service: *service, Region: *region}
	if rt != nil {
		// The route's scope, credentials and upstream (fixed mode), as
		// serve signs its requests; --service and --region still win.
		*credsCfg, scope = rt.cfg.Config, rt.cfg
		if visited(fs, "service") {
			scope.Service = *service
		}
		if visited(fs, "region") {
			scope.Region = *region
		}
		if target == nil && rt.cfg.Upstream != "" {
			target, _ = url.Parse(rt.cfg.Upstream)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	out := inv.stdout
	var failures []string

	if rt != nil {
		fmt.Fprintf(out, "route:       %s\n", rt.where)
	}
	if target != nil {
		u, err := scope.TargetURL(target)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		if scope.SignHost != "" {
			u.Host = scope.SignHost
		}
		regionSet, err := sidecar.RegionSetOption(scope.RegionSet)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		s, err := endpoint.SigningFor(u.Host, scope.Service, scope.Region, regionSet)
		switch {
		case err != nil:
			fmt.Fprintf(out, "endpoint:    %s: %v\n", u.Host, err)
			failures = append(failures, err.Error())
		case len(s.RegionSet) > 0:
			fmt.Fprintf(out, "endpoint:    %s signs as service %s with SigV4a, region set %s (%s)\n", u.Host, s.Service, strings.Join(s.RegionSet, ","), scopeSource(u.Host, scope.Service, scope.Region, regionSet))
		default:
			fmt.Fprintf(out, "endpoint:    %s signs as service %s, region %s (%s)\n", u.Host, s.Service, s.Region, scopeSource(u.Host, scope.Service, scope.Region, regionSet))
		}
	}

	c, err := loadCredentials(ctx, *credsCfg)
	if err != nil {
		fmt.Fprintf(out, "credentials: %v\n", err)
		// The reason is on stdout, with the other lines; said once.
		return &exitError{code: 1, msg: "check failed: no usable credentials"}
	}
	fmt.Fprintf(out, "credentials: %s, access key id %s, %s\n", c.Source, creds.KeyIDSuffix(c.AccessKeyID), describeExpiry(c, time.Now()))
	if c.Expired(time.Now()) {
		failures = append(failures, "the credentials have expired")
	}

	stsURL, stsRegion := stsEndpoint(*credsCfg, inv.environ)
	id, offset, err := getCallerIdentity(ctx, stsURL, stsRegion, c)
	var stsErr *stsError
	switch {
	case errors.As(err, &stsErr):
		fmt.Fprintf(out, "identity:    STS answered %d %s: %s\n", stsErr.status, stsErr.aws.Code, stsErr.aws.SafeMessage())
		for _, p := range diagnose.Answer(stsErr.aws) {
			fmt.Fprintf(out, "  [%s] fix: %s\n", p.Code, sidecar.Advice(p.Code))
		}
		failures = append(failures, fmt.Sprintf("STS GetCallerIdentity at %s: %s", stsURL, stsErr.aws.Code))
	case err != nil:
		fmt.Fprintf(out, "identity:    %v\n", err)
		failures = append(failures, fmt.Sprintf("STS GetCallerIdentity at %s: %v", stsURL, err))
	default:
		fmt.Fprintf(out, "identity:    %s (account %s)\n", id.Arn, id.Account)
	}
	if offset != nil {
		d := *offset
		verdict := "ok"
		switch abs := max(d, -d); {
		case abs > maxClockSkew:
			verdict = "AWS rejects signatures beyond 15m: synchronize this host's clock (NTP/chrony)"
			failures = append(failures, fmt.Sprintf("clock is %s off AWS's", d.Round(time.Second)))
		case abs > warnSkew:
			verdict = "drifting: synchronize this host's clock before it reaches 15m"
		}
		fmt.Fprintf(out, "clock:       %+.1fs from STS's Date (1s resolution): %s\n", d.Seconds(), verdict)
	}
	fmt.Fprintf(out, "sts:         %s (region %s)\n", stsURL, stsRegion)
	if len(failures) > 0 {
		return &exitError{code: 1, msg: "check failed: " + strings.Join(failures, "; ")}
	}
	fmt.Fprintln(out, "ok")
	return nil
}

func describeExpiry(c creds.Credentials, now time.Time) string {
	if !c.CanExpire {
		return "does not expire"
	}
	left := c.Expires.Sub(now).Round(time.Second)
	if left <= 0 {
		return fmt.Sprintf("EXPIRED at %s", c.Expires.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("expires %s (in %s)", c.Expires.UTC().Format(time.RFC3339), left)
}

// stsEndpoint returns the STS URL and signing region check calls:
// --sts-endpoint / --sts-region when set, else the regional endpoint of
// AWS_REGION (AWS_DEFAULT_REGION, else us-east-1).
func stsEndpoint(cfg creds.Config, environ []string) (string, string) {
	region := cfg.STSRegion
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, name+"="); ok && v != "" && region == "" {
				region = v
			}
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	if cfg.STSEndpoint != "" {
		return cfg.STSEndpoint, region
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://sts." + region + "." + suffix + "/", region
}

// callerIdentity is STS's answer.
type callerIdentity struct {
	Arn     string `xml:"GetCallerIdentityResult>Arn"`
	Account string `xml:"GetCallerIdentityResult>Account"`
	UserID  string `xml:"GetCallerIdentityResult>UserId"`
}

// stsError is a non-200 answer from STS.
type stsError struct {
	status int
	aws    awserror.Answer
}

func (e *stsError) Error() string {
	return fmt.Sprintf("STS answered %d %s: %s", e.status, e.aws.Code, e.aws.SafeMessage())
}

// getCallerIdentity calls STS signed by our signer. It returns the
// identity, the offset of STS's clock from ours (nil without a Date header)
// and a *stsError when STS refused.
func getCallerIdentity(ctx context.Context, stsURL, region string, c creds.Credentials) (callerIdentity, *time.Duration, error) {
	var id callerIdentity
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, stsURL, strings.NewReader(getCallerIdentityBody))
	if err != nil {
		return id, nil, fmt.Errorf("invalid --sts-endpoint %q: %v", stsURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(getCallerIdentityBody))
	keys := sidecar.SigningKeys(c)
	sent := time.Now()
	if _, err := signer.New(nil).Sign(req, keys, signer.Options{
		Service: "sts", Region: region, Time: sent, PayloadHash: hex.EncodeToString(sum[:]),
		UnsignedHeaders: sidecar.UnsignedByDefault,
	}); err != nil {
		return id, nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return id, nil, err
	}
	defer resp.Body.Close()
	received := time.Now()
	var offset *time.Duration
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// The server stamped Date somewhere between sending and receiving.
		mid := sent.Add(received.Sub(sent) / 2)
		o := d.Sub(mid.Truncate(time.Second))
		offset = &o
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return id, offset, err
	}
	if resp.StatusCode != http.StatusOK {
		e, ok := awserror.Parse(body)
		if !ok {
			e = awserror.Answer{Code: resp.Status, Message: firstLineOf(string(bytes.TrimSpace(body)))}
		}
		return id, offset, &stsError{status: resp.StatusCode, aws: e}
	}
	if err := xml.Unmarshal(body, &id); err != nil || id.Arn == "" {
		return id, offset, fmt.Errorf("STS answered 200 without an identity ARN")
	}
	return id, offset, nil
}
