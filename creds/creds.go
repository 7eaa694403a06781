package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Credentials is one set of AWS credentials and the source that produced it.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Source names the source that answered ("environment", "web-identity", ...), for logs.
	Source string
	// CanExpire reports whether Expires is meaningful.
	CanExpire bool
	Expires   time.Time
}

// Expired reports whether the credentials can expire and have, at now.
func (c Credentials) Expired(now time.Time) bool {
	return c.CanExpire && !now.Before(c.Expires)
}

// Provider retrieves credentials. Implementations are safe for concurrent use.
type Provider interface {
	Retrieve(ctx context.Context) (Credentials, error)
}

// ErrNoCredentials is returned (wrapped) when no source produced usable credentials.
var ErrNoCredentials = errors.New("no AWS credentials available")

// Config says where credentials come from. Every field is a proxy option: the
// env tag (prefixed with SIGV4_ by the proxy) and the flag tag name it.
type Config struct {
	RoleARN         string        `env:"ROLE_ARN" flag:"role-arn" help:"assume this IAM role on top of the base credentials"`
	RoleSessionName string        `env:"ROLE_SESSION_NAME" flag:"role-session-name" help:"session name for --role-arn (default: derived from the host name)"`
	ExternalID      string        `env:"EXTERNAL_ID" flag:"external-id" help:"external id for --role-arn"`
	RoleDuration    time.Duration `env:"ROLE_DURATION" flag:"role-duration" envDefault:"1h" help:"session duration for --role-arn"`
	CredentialsFile string        `env:"CREDENTIALS_FILE" flag:"credentials-file" help:"static keys in AWS shared-credentials format, re-read when the file changes"`
	Profile         string        `env:"PROFILE" flag:"profile" help:"profile in the shared config and credentials files (default: AWS_PROFILE or default)"`
}

// Source is what the proxy holds: the current credentials, and a way to drop
// them when an upstream has rejected them. Safe for concurrent use.
type Source interface {
	Provider
	// Invalidate marks the credentials with this access key id as rejected, so
	// the next Retrieve returns fresh ones. Other key ids are left alone.
	Invalidate(accessKeyID string)
}

// Load builds the credential source Config describes on top of the AWS
// standard chain and returns it ready for use.
func Load(ctx context.Context, cfg Config, log *slog.Logger) (Source, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return sdkProvider{cache: aws.NewCredentialsCache(awsCfg.Credentials)}, nil
}

// sdkProvider adapts an aws-sdk-go-v2 credentials cache.
type sdkProvider struct{ cache *aws.CredentialsCache }

func (p sdkProvider) Invalidate(string) { p.cache.Invalidate() }

func (p sdkProvider) Retrieve(ctx context.Context) (Credentials, error) {
	c, err := p.cache.Retrieve(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: %v", ErrNoCredentials, err)
	}
	return Credentials{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Source: c.Source, CanExpire: c.CanExpire, Expires: c.Expires,
	}, nil
}
