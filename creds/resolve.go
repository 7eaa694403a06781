package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// defaultSTSRegion is where STS calls go when nothing names a region: the
// SDK refuses to build an endpoint without one.
const defaultSTSRegion = "us-east-1"

// Resolve builds the uncached provider Config describes: the credentials file
// when --credentials-file is set, otherwise the AWS SDK's default chain
// (environment, shared config and credentials files with --profile, web
// identity, container endpoint, IMDS), with --role-arn assumed on top. Every
// Retrieve on the result fetches afresh; wrap it in a Cache (Load does).
//
// Resolve validates the configuration and names the option at fault; it does
// not contact any credential source. What the SDK itself logs is dropped;
// Load and Start pass it to their logger.
func Resolve(ctx context.Context, cfg Config) (Provider, error) {
	return resolve(ctx, cfg, nil)
}

// resolve is Resolve with the SDK's own log lines sent to log at Debug (nil
// drops them).
func resolve(ctx context.Context, cfg Config, log *slog.Logger) (Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	if cfg.CredentialsFile != "" {
		fp, err := newFileProvider(cfg.CredentialsFile, cfg.Profile)
		if err != nil {
			return nil, err
		}
		if cfg.RoleARN == "" {
			return fp, nil
		}
		// The SDK config still matters for STS: region, AWS_ENDPOINT_URL_STS,
		// AWS_CA_BUNDLE. --profile names the file's section here, not a
		// shared-config profile.
		awsCfg, err := loadSDKConfig(ctx, cfg, false, log, config.WithCredentialsProvider(awsProvider{fp}))
		if err != nil {
			return nil, err
		}
		// Sign AssumeRole with the file's keys as they are now: the SDK
		// would cache static keys for ever and miss a rotation.
		return newAssumeRoleProvider(cfg.stsClient(awsCfg, awsProvider{fp}), fp, cfg)
	}

	awsCfg, err := loadSDKConfig(ctx, cfg, true, log)
	if err != nil {
		return nil, err
	}
	base := &sdkProvider{creds: awsCfg.Credentials, profile: cfg.Profile}
	if cfg.RoleARN == "" {
		return base, nil
	}
	return newAssumeRoleProvider(cfg.stsClient(awsCfg, awsCfg.Credentials), base, cfg)
}

// stsClient is the client that assumes --role-arn, signing with creds: the
// SDK's view of region and endpoint with --sts-region and --sts-endpoint
// on top.
func (cfg Config) stsClient(awsCfg aws.Config, creds aws.CredentialsProvider) *sts.Client {
	return sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		o.Credentials = creds
		if cfg.STSRegion != "" {
			o.Region = cfg.STSRegion
		}
		if cfg.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.STSEndpoint)
		}
	})
}

// loadSDKConfig runs the SDK's config loading with our options layered on:
// the profile (when withProfile), a default region, the STS override for
// web identity, and the SDK's logger pointed at log.
func loadSDKConfig(ctx context.Context, cfg Config, withProfile bool, log *slog.Logger, extra ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithDefaultRegion(defaultSTSRegion),
		// The SDK's default logger writes plain lines to stderr, into the
		// middle of a JSON log. Its one warning on this path, "falling back
		// to IMDSv1" when something other than EC2's metadata service
		// answers 403/404/405 at the metadata address, is noise off EC2,
		// where the no-credentials error already says what to do (issue 20).
		config.WithLogger(sdkLogger{log}),
		// One attempt per fetch: the Cache retries with its own backoff, in
		// the background. SDK retries inside a fetch would only stretch
		// it (several seconds against a failing endpoint), and with it the
		// time before anyone learns of the failure.
		config.WithRetryer(noRetries),
		// Our Cache decides when to refresh. The SDK's own cache stays in
		// front of each provider (it serialises calls) but must neither
		// shorten the expiry it reports nor serve a stale value after our
		// Invalidate: no expiry window.
		config.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = 0
			o.ExpiryWindowJitterFrac = 0
		}),
	}
	if withProfile && cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	opts = append(opts, extra...)
	var webIdentity func(*stscreds.WebIdentityRoleOptions)
	if cfg.STSRegion != "" || cfg.STSEndpoint != "" {
		// The SDK builds its web identity STS client while it resolves
		// credentials, before service options apply: hand it ours.
		client := sts.New(cfg.stsOptions(stsRegionFromEnv(cfg.STSRegion)))
		webIdentity = func(o *stscreds.WebIdentityRoleOptions) { o.Client = client }
	}
	opts = append(opts, limitTokenFiles(webIdentity)...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		if withProfile && cfg.Profile != "" {
			return aws.Config{}, fmt.Errorf("invalid --profile %q: %w", cfg.Profile, err)
		}
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if awsCfg.Credentials == nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w: the SDK resolved no credential provider", ErrNoCredentials)
	}
	return awsCfg, nil
}

func noRetries() aws.Retryer { return aws.NopRetryer{} }

// stsOptions is the STS client configuration for region with the endpoint
// override applied. Regional endpoints are the SDK's default
// (sts.REGION.amazonaws.com); the legacy global endpoint is never used.
func (cfg Config) stsOptions(region string) sts.Options {
	o := sts.Options{Region: region, Retryer: noRetries()}
	if cfg.STSEndpoint != "" {
		o.BaseEndpoint = aws.String(cfg.STSEndpoint)
	}
	return o
}

// stsRegionFromEnv is the STS region when no aws.Config has resolved one:
// the option, else the standard environment variables, else us-east-1.
func stsRegionFromEnv(option string) string {
	for _, r := range []string{option, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")} {
		if r != "" {
			return r
		}
	}
	return defaultSTSRegion
}

// validate checks every option before anything is contacted, so a typo
// fails at start with the option's name rather than at the first request.
func (cfg Config) validate() error {
	var errs []error
	if cfg.RoleARN != "" {
		if err := validateRoleARN(cfg.RoleARN); err != nil {
			errs = append(errs, fmt.Errorf("invalid --role-arn %q: %w", cfg.RoleARN, err))
		}
		if cfg.RoleSessionName != "" {
			if err := validateSessionName(cfg.RoleSessionName); err != nil {
				errs = append(errs, fmt.Errorf("invalid --role-session-name %q: %w", cfg.RoleSessionName, err))
			}
		}
		if cfg.ExternalID != "" {
			if err := validateExternalID(cfg.ExternalID); err != nil {
				errs = append(errs, fmt.Errorf("invalid --external-id: %w", err))
			}
		}
		if cfg.RoleDuration != 0 {
			if err := validateRoleDuration(cfg.RoleDuration); err != nil {
				errs = append(errs, fmt.Errorf("invalid --role-duration %s: %w", cfg.RoleDuration, err))
			}
		}
	} else {
		for _, o := range []struct{ name, value string }{
			{"--role-session-name", cfg.RoleSessionName},
			{"--external-id", cfg.ExternalID},
		} {
			if o.value != "" {
				errs = append(errs, fmt.Errorf("%s is set but --role-arn is not: it only applies to an assumed role", o.name))
			}
		}
	}
	if cfg.STSEndpoint != "" {
		u, err := url.Parse(cfg.STSEndpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("invalid --sts-endpoint %q: %w", cfg.STSEndpoint, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("invalid --sts-endpoint %q: scheme must be http or https", cfg.STSEndpoint))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("invalid --sts-endpoint %q: no host", cfg.STSEndpoint))
		}
	}
	if cfg.STSRegion != "" && !isRegionName(cfg.STSRegion) {
		errs = append(errs, fmt.Errorf("invalid --sts-region %q: want a region name such as eu-west-1", cfg.STSRegion))
	}
	if cfg.CredentialsFile != "" && strings.TrimSpace(cfg.CredentialsFile) != cfg.CredentialsFile {
		errs = append(errs, fmt.Errorf("invalid --credentials-file %q: leading or trailing white space", cfg.CredentialsFile))
	}
	return errors.Join(errs...)
}

// isRegionName accepts lower-case letters, digits and dashes, the shape of
// every AWS region name, so that a region never smuggles a host into the
// endpoint the SDK builds from it.
func isRegionName(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
