package creds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

// STS limits, from the AssumeRole API reference
// (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
const (
	minSessionName  = 2
	maxSessionName  = 64
	minExternalID   = 2
	maxExternalID   = 1224
	minRoleDuration = 15 * time.Minute
	// maxRoleDuration is STS's ceiling; the role's own MaxSessionDuration
	// may be lower, and STS says so in its error.
	maxRoleDuration = 12 * time.Hour
	// defaultRoleDuration applies when Config.RoleDuration is zero (the
	// envDefault is 1h too; a Config built in code may leave it unset).
	defaultRoleDuration = time.Hour
	sessionNamePrefix   = "sigv4-sidecar-"
)

// assumeRoleProvider assumes Config.RoleARN with the base credentials on
// every Retrieve.
type assumeRoleProvider struct {
	role *stscreds.AssumeRoleProvider
	base Provider
}

var _ Provider = (*assumeRoleProvider)(nil)

func newAssumeRoleProvider(client stscreds.AssumeRoleAPIClient, base Provider, cfg Config) (*assumeRoleProvider, error) {
	session := cfg.RoleSessionName
	if session == "" {
		host, _ := os.Hostname()
		session = SessionNameFromHost(host)
	}
	duration := cfg.RoleDuration
	if duration == 0 {
		duration = defaultRoleDuration
	}
	role := stscreds.NewAssumeRoleProvider(client, cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		// Both set here: stscreds fills empty ones in on Retrieve, which
		// would race under concurrent calls.
		o.RoleSessionName = session
		o.Duration = duration
		if cfg.ExternalID != "" {
			o.ExternalID = aws.String(cfg.ExternalID)
		}
	})
	return &assumeRoleProvider{role: role, base: base}, nil
}

func (p *assumeRoleProvider) Retrieve(ctx context.Context) (Credentials, error) {
	name := p.name()
	v, err := p.role.Retrieve(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", name, err)
	}
	return fromAWS(v, name), nil
}

// Changed passes the base's change notice on: a rotated credentials file
// under a role means a new AssumeRole.
func (p *assumeRoleProvider) Changed() bool {
	if d, ok := p.base.(changeDetector); ok {
		return d.Changed()
	}
	return false
}

// providerName names a provider without fetching from it: ours say what
// they are, others are named by their type.
func providerName(p Provider) string {
	if n, ok := p.(interface{ name() string }); ok {
		return n.name()
	}
	return fmt.Sprintf("%T", p)
}

func (p *assumeRoleProvider) name() string { return "assume-role via " + providerName(p.base) }

// SessionNameFromHost derives the default --role-session-name from a host
// name: "sigv4-sidecar-" and the host name, every character outside STS's
// set [\w+=,.@-] replaced by '-', cut to STS's 64 characters. In Kubernetes
// the host name is the pod name, so CloudTrail shows which pod acted.
func SessionNameFromHost(host string) string {
	var b strings.Builder
	b.WriteString(sessionNamePrefix)
	for _, r := range host {
		if b.Len() >= maxSessionName {
			break
		}
		if isSessionNameChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.TrimRight(b.String(), "-")
	if len(name) > maxSessionName {
		name = name[:maxSessionName]
	}
	if name+"-" == sessionNamePrefix {
		return "sigv4-sidecar"
	}
	return name
}

func isSessionNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("_+=,.@-", r)
}

func validateSessionName(s string) error {
	if len(s) < minSessionName || len(s) > maxSessionName {
		return fmt.Errorf("length %d, STS wants %d to %d characters", len(s), minSessionName, maxSessionName)
	}
	for _, r := range s {
		if !isSessionNameChar(r) {
			return fmt.Errorf("character %q not allowed: STS allows letters, digits and _+=,.@-", r)
		}
	}
	return nil
}

func validateExternalID(s string) error {
	if len(s) < minExternalID || len(s) > maxExternalID {
		return fmt.Errorf("length %d, STS wants %d to %d characters", len(s), minExternalID, maxExternalID)
	}
	for _, r := range s {
		if !isSessionNameChar(r) && r != ':' && r != '/' {
			return fmt.Errorf("character %q not allowed: STS allows letters, digits and _+=,.@:/-", r)
		}
	}
	return nil
}

func validateRoleDuration(d time.Duration) error {
	if d < minRoleDuration || d > maxRoleDuration {
		return fmt.Errorf("STS accepts %s to %s", minRoleDuration, maxRoleDuration)
	}
	if d%time.Second != 0 {
		return errors.New("STS takes whole seconds")
	}
	return nil
}

// validateRoleARN checks the shape arn:PARTITION:iam::ACCOUNT:role/NAME, the
// only ARN AssumeRole accepts.
func validateRoleARN(arn string) error {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return errors.New("want arn:aws:iam::123456789012:role/NAME")
	}
	partition, service, region, account, resource := parts[1], parts[2], parts[3], parts[4], parts[5]
	switch {
	case partition == "":
		return errors.New("no partition (arn:aws:...)")
	case service != "iam":
		return fmt.Errorf("service %q, want iam", service)
	case region != "":
		return fmt.Errorf("IAM ARNs have no region, got %q", region)
	case len(account) != 12 || strings.Trim(account, "0123456789") != "":
		return fmt.Errorf("account %q, want 12 digits", account)
	case !strings.HasPrefix(resource, "role/") || len(resource) == len("role/"):
		return fmt.Errorf("resource %q, want role/NAME", resource)
	}
	return nil
}
