package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
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

// LogValue keeps secrets out of logs: a Credentials passed to slog shows its
// source, the last four characters of the access key id and the expiry only.
func (c Credentials) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("source", c.Source),
		slog.String("access_key_id", KeyIDSuffix(c.AccessKeyID)),
	}
	if c.CanExpire {
		attrs = append(attrs, slog.Time("expires", c.Expires))
	} else {
		attrs = append(attrs, slog.String("expires", "never"))
	}
	return slog.GroupValue(attrs...)
}

// String is LogValue's counterpart for fmt: no secret ever reaches %v.
func (c Credentials) String() string {
	exp := "never"
	if c.CanExpire {
		exp = c.Expires.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("{source=%s access_key_id=%s expires=%s}", c.Source, KeyIDSuffix(c.AccessKeyID), exp)
}

// GoString keeps %#v as safe as %v.
func (c Credentials) GoString() string { return "creds.Credentials" + c.String() }

// KeyIDSuffix returns the last four characters of an access key id behind a
// mask ("****WXYZ"): enough to tell keys apart in logs and metrics, not enough
// to identify the account.
func KeyIDSuffix(accessKeyID string) string {
	if len(accessKeyID) <= 4 {
		return "****"
	}
	return "****" + accessKeyID[len(accessKeyID)-4:]
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
	STSRegion       string        `env:"STS_REGION" flag:"sts-region" help:"region of the STS endpoint for --role-arn and web identity (default: AWS_REGION, else us-east-1)"`
	STSEndpoint     string        `env:"STS_ENDPOINT" flag:"sts-endpoint" help:"STS endpoint URL override, for emulators and tests (default: the regional endpoint)"`
}

// Source is what the proxy holds: the current credentials, and a way to drop
// them when an upstream has rejected them. Safe for concurrent use.
type Source interface {
	Provider
	// Invalidate marks the credentials with this access key id as rejected, so
	// the next Retrieve returns fresh ones. Other key ids are left alone.
	Invalidate(accessKeyID string)
}

// Load builds the credential source Config describes (Resolve), wraps it in a
// Cache and retrieves the first credentials; the Cache logs one line naming
// the source, the access key id's last four characters and the expiry.
//
// The Source returned is a *Cache: assert it for Ready, Status and Close.
// Load fails when the configuration is invalid (the error names the option)
// or when no credentials can be retrieved at start (the error wraps
// ErrNoCredentials): for callers that cannot do without them (check, and
// serve with --exit-without-credentials). ctx bounds the first retrieval
// only; the Cache's background refresh lives until Close.
func Load(ctx context.Context, cfg Config, log *slog.Logger) (Source, error) {
	c, err := newLoadCache(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if _, err := firstRetrieve(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Start is Load for a server that must come up without credentials: it
// fails only on an invalid configuration. It waits for the first fetch (or
// ctx) and, when that fetch fails, logs one WARN saying that requests get
// 503 until a fetch succeeds, and returns the Cache anyway. The Cache keeps
// fetching in the background with its backoff; the first success is logged
// ("credentials loaded") and from then on Retrieve and Ready succeed. Close
// the Cache when done.
//
// A pod whose credential agent or STS is briefly down at start then serves
// (and answers /readyz 503) instead of exiting into a crash loop whose
// restart back-off outlasts the outage.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Cache, error) {
	c, err := newLoadCache(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if _, err := c.Retrieve(ctx); err != nil {
		c.log.Warn("no AWS credentials at start: every request is answered 503 credentials_unavailable and /readyz 503 until a fetch succeeds; fetching again in the background",
			"source", providerName(c.provider), "error", err)
	}
	return c, nil
}

// newLoadCache resolves cfg and starts a Cache on it, logging to log.
func newLoadCache(ctx context.Context, cfg Config, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := resolve(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return NewCache(p, CacheOptions{Log: log}), nil
}

// loadAttempts is how many fetches Load makes before it gives up: a
// metadata endpoint or agent that blinks while the pod starts is not fatal.
const loadAttempts = 3

// firstRetrieve waits for c's first credentials, through the Cache's own
// backoff, for loadAttempts fetches or until ctx ends. It gives up at once
// when nothing is configured and IMDS cannot help (NoSourceError.final): off
// EC2, asking again only adds seconds before the fix is printed.
func firstRetrieve(ctx context.Context, c *Cache) (Credentials, error) {
	for {
		first, err := c.Retrieve(ctx)
		if err == nil || ctx.Err() != nil {
			return first, err
		}
		if none := (*NoSourceError)(nil); errors.As(err, &none) && none.final() {
			return Credentials{}, err
		}
		st := c.Status()
		if st.ConsecutiveFailures == 0 || st.ConsecutiveFailures >= loadAttempts || st.NextRefresh.IsZero() {
			return Credentials{}, err
		}
		t := time.NewTimer(time.Until(st.NextRefresh))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Credentials{}, err
		}
	}
}
