package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
)

// sdkProvider adapts the credentials provider the AWS SDK's default chain
// resolved (environment, profiles with SSO and credential_process, web
// identity, container endpoint, IMDS). Every Retrieve fetches afresh: the
// Cache in front decides when.
type sdkProvider struct {
	creds   aws.CredentialsProvider
	profile string
}

var _ Provider = (*sdkProvider)(nil)

// Retrieve fetches new credentials from the resolved source. The SDK wraps
// its providers in an aws.CredentialsCache; it is invalidated first so the
// call reaches the source (our Cache calls at most one Retrieve at a time).
func (p *sdkProvider) Retrieve(ctx context.Context) (Credentials, error) {
	if c, ok := p.creds.(*aws.CredentialsCache); ok {
		c.Invalidate()
	}
	name := p.name()
	v, err := p.creds.Retrieve(ctx)
	if err != nil {
		if name == "imds" {
			// IMDS is where the chain ends up when nothing else is set:
			// on a laptop or in a pod this is the usual mistake.
			return Credentials{}, &NoSourceError{Err: err}
		}
		return Credentials{}, fmt.Errorf("%s: %w", name, err)
	}
	return fromAWS(v, name), nil
}

// fromAWS converts what an aws-sdk-go-v2 provider returned, naming its source.
func fromAWS(v aws.Credentials, source string) Credentials {
	return Credentials{
		AccessKeyID:     v.AccessKeyID,
		SecretAccessKey: v.SecretAccessKey,
		SessionToken:    v.SessionToken,
		Source:          source,
		CanExpire:       v.CanExpire,
		Expires:         v.Expires,
	}
}

// name says which source of the chain answers, in the words of the README.
func (p *sdkProvider) name() string {
	var sources []aws.CredentialSource
	if s, ok := p.creds.(aws.CredentialProviderSource); ok {
		sources = s.ProviderSources()
	}
	name := sourceName(sources)
	if p.profile != "" {
		name += " (profile " + p.profile + ")"
	}
	return name
}

// sourceName maps the SDK's chain of credential sources to one name: the
// last, most specific, entry that names a source.
func sourceName(sources []aws.CredentialSource) string {
	name := "aws-sdk-default-chain"
	for _, s := range sources {
		switch s {
		case aws.CredentialSourceEnvVars:
			name = "environment"
		case aws.CredentialSourceEnvVarsSTSWebIDToken, aws.CredentialSourceSTSAssumeRoleWebID,
			aws.CredentialSourceProfileSTSWebIDToken:
			name = "web-identity"
		case aws.CredentialSourceHTTP, aws.CredentialSourceProfileNamedProvider:
			name = containerSourceName()
		case aws.CredentialSourceIMDS:
			name = "imds"
		case aws.CredentialSourceProfile:
			name = "shared-credentials"
		case aws.CredentialSourceProfileSSO, aws.CredentialSourceSSO,
			aws.CredentialSourceProfileSSOLegacy, aws.CredentialSourceSSOLegacy:
			name = "sso"
		case aws.CredentialSourceProfileProcess, aws.CredentialSourceProcess:
			name = "credential-process"
		case aws.CredentialSourceSTSAssumeRole:
			name = "assume-role (profile)"
		case aws.CredentialSourceProfileLogin, aws.CredentialSourceLogin:
			name = "console-login"
		}
	}
	return name
}

// containerSourceName tells EKS Pod Identity (the agent on 169.254.170.23 or
// fd00:ec2::23) from the ECS container endpoint: the SDK reports both as
// "HTTP".
func containerSourceName() string {
	u, err := url.Parse(os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
	if err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil &&
			(ip.Equal(net.IPv4(169, 254, 170, 23)) || ip.Equal(net.ParseIP("fd00:ec2::23"))) {
			return "eks-pod-identity"
		}
	}
	return "container-endpoint"
}

// awsProvider presents one of our providers to the SDK, for the STS client
// that assumes a role on top of the credentials file.
type awsProvider struct{ p Provider }

var _ aws.CredentialsProvider = awsProvider{}

func (a awsProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := a.p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Source:          c.Source,
		CanExpire:       c.CanExpire,
		Expires:         c.Expires,
	}, nil
}

// NoSourceError says that the default chain found nothing configured (no
// environment keys, profile, web identity or container endpoint) and IMDS,
// its last resort, gave no credentials either: off AWS, the usual first-run
// mistake. Its message is the fix, not the SDK's chain of IMDS errors,
// which Err keeps for errors.As.
type NoSourceError struct {
	Err error
}

func (e *NoSourceError) Error() string {
	return "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or --profile), or run on AWS with a role (EC2 instance profile, EKS IRSA or Pod Identity, ECS task role)"
}

func (e *NoSourceError) Unwrap() error { return e.Err }

// final reports whether asking IMDS again soon could not help: it was not
// reached at all (nothing listens at the metadata address, or nothing answers
// in the SDK's half-second: off EC2), it is turned off
// (AWS_EC2_METADATA_DISABLED), or it answered a client error (404: no instance
// profile, or another cloud's metadata server). Only a throttled or failing
// metadata service (429, 5xx) is worth another attempt.
func (e *NoSourceError) final() bool {
	var status interface{ HTTPStatusCode() int }
	if !errors.As(e.Err, &status) {
		return true
	}
	code := status.HTTPStatusCode()
	return code != http.StatusTooManyRequests && code < 500
}

// sdkLogger gives the AWS SDK's own log lines to log at Debug, in the
// proxy's log format; a nil log drops them.
type sdkLogger struct{ log *slog.Logger }

var _ logging.Logger = sdkLogger{}

func (l sdkLogger) Logf(classification logging.Classification, format string, v ...any) {
	if l.log == nil {
		return
	}
	l.log.Debug(fmt.Sprintf(format, v...), "from", "aws-sdk", "sdk_level", string(classification))
}
