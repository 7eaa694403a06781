package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// maxPresignExpiry is SigV4's limit on X-Amz-Expires: seven days.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
const maxPresignExpiry = 7 * 24 * time.Hour

// runPresign prints a presigned URL (SigV4 in the query string) for one
// request, with the service and region the proxy would sign it for. Whoever
// holds the URL can make that request until it expires, so it is printed to
// stdout only and never logged.
func runPresign(ctx context.Context, inv invocation) error {
	fs := inv.flags("presign",
		"Usage: sigv4-sidecar presign [-X METHOD] [--expires 15m] [--example-credentials] URL",
		"Prints a presigned URL for the request: the signature travels in the query string, so any HTTP client can use it until it expires. Sends nothing.")
	method := fs.String("X", http.MethodGet, "HTTP method the URL is valid for")
	expires := fs.Duration("expires", 15*time.Minute, "how long the URL stays valid (1s to 168h)")
	service := fs.String("service", "", "signing name instead of the one derived from the host (as serve's --service)")
	region := fs.String("region", "", "signing region instead of the one derived from the host (as serve's --region)")
	regionSet := fs.String("region-set", "", "sign with SigV4a for these comma-separated regions (as serve's --region-set; default: SigV4a with * for the hosts that demand it)")
	date := fs.String("date", "", "signing time, 20150830T123600Z or RFC 3339 (default: now)")
	example := fs.Bool("example-credentials", false, "sign with AWS's documented example keys (AKIDEXAMPLE) instead of the configured credentials")
	credsCfg := fs.credentialOptions(inv.environ)
	args, err := fs.parseInterspersed(inv.args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return &exitError{code: 2, msg: "presign takes exactly one URL (see sigv4-sidecar presign --help)"}
	}
	if *expires < time.Second || *expires > maxPresignExpiry {
		return &exitError{code: 2, msg: fmt.Sprintf("invalid --expires %s: must be between 1s and 168h (SigV4's limit)", *expires)}
	}
	signingTime, err := parseSigningTime(*date)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	u, err := parseTargetURL(args[0])
	if err != nil {
		return err
	}
	req, err := http.NewRequest(*method, u.String(), nil)
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("invalid request: %v", err)}
	}
	set, err := sidecar.RegionSetOption(strings.Split(*regionSet, ","))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	s, err := endpoint.SigningFor(u.Host, *service, *region, set)
	if err != nil {
		return err
	}

	keys, _, err := signingKeys(ctx, *example, *credsCfg)
	if err != nil {
		return err
	}
	if _, err := signer.New(nil).Presign(req, keys, presignOptions(s, signingTime), *expires); err != nil {
		return err
	}
	fmt.Fprintln(inv.stdout, req.URL.String())
	return nil
}

// presignOptions: S3 presigned URLs carry UNSIGNED-PAYLOAD (the body is not
// known when the URL is made); other services sign the empty-body hash, as
// the SDKs do for presigned calls such as RDS IAM tokens. A region set
// presigns with SigV4a (X-Amz-Region-Set in the query).
func presignOptions(s endpoint.Signing, t time.Time) signer.Options {
	hash := signer.EmptyPayloadHash
	if signer.IsS3Family(s.Service) {
		hash = signer.UnsignedPayload
	}
	o := signer.Options{Service: s.Service, Region: s.Region, Time: t, PayloadHash: hash}
	if len(s.RegionSet) > 0 {
		o.Algorithm, o.RegionSet = signer.SigV4a, s.RegionSet
	}
	return o
}
