package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLoadLogsOneLineWithoutSecrets: Load announces the credentials in one
// line (source, key id's last four, expiry) and no secret reaches the log,
// whatever the level.
func TestLoadLogsOneLineWithoutSecrets(t *testing.T) {
	const (
		keyID  = "AKIAIOSFODNN7EXAMPLE"
		secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
		token  = "IQoJb3JpZ2luX2VjEDcaCXVzLWVhc3QtMSJHMEUCIQ"
	)
	t.Run("environment", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", keyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
		t.Setenv("AWS_SESSION_TOKEN", token)
		line := loadAndLog(t, Config{})
		if line["credentials.source"] != "environment" || line["credentials.access_key_id"] != "****MPLE" ||
			line["credentials.expires"] != "never" {
			t.Errorf("log line = %v, want source environment, ****MPLE, never", line)
		}
		for _, s := range []string{secret, token, keyID} {
			if strings.Contains(fmt.Sprint(line), s) {
				t.Errorf("log line %v contains %q", line, s)
			}
		}
	})
	t.Run("container-endpoint", func(t *testing.T) {
		ecs, _ := ecsCache(t, time.Hour, 2*time.Hour)
		line := loadAndLog(t, Config{})
		if line["credentials.source"] != "container-endpoint" || line["credentials.access_key_id"] != "****0001" {
			t.Errorf("log line = %v", line)
		}
		exp, err := time.Parse(time.RFC3339, fmt.Sprint(line["credentials.expires"]))
		if err != nil || !exp.Equal(ecs.start.Add(2*time.Hour)) {
			t.Errorf("expires = %v (%v), want %s", line["credentials.expires"], err, ecs.start.Add(2*time.Hour))
		}
		for _, s := range []string{genSecret(1), genToken(1), genKeyID("ASIAECS", 1)} {
			if strings.Contains(fmt.Sprint(line), s) {
				t.Errorf("log line %v contains %q", line, s)
			}
		}
	})
}

// loadAndLog runs Load with a JSON logger at Debug and returns the only
// line it wrote.
func loadAndLog(t *testing.T, cfg Config) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := Load(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := src.(*Cache)
	if !ok {
		t.Fatalf("Load returned a %T, want *Cache", src)
	}
	c.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("Load logged %d lines, want 1:\n%s", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	// The handler nests groups: flatten credentials.* for the assertions.
	if g, ok := m["credentials"].(map[string]any); ok {
		for k, v := range g {
			m["credentials."+k] = v
		}
	}
	if m["level"] != "INFO" {
		t.Errorf("level = %v, want INFO", m["level"])
	}
	return m
}

// TestLoadFailsWithoutCredentials: no source anywhere is an error at start
// that wraps ErrNoCredentials, after a few attempts.
func TestLoadFailsWithoutCredentials(t *testing.T) {
	isolateAWSEnv(t)
	_, err := Load(context.Background(), Config{}, testLogger(t))
	var expired *ExpiredError
	if !errors.Is(err, ErrNoCredentials) || !errors.As(err, &expired) || !expired.Expired.IsZero() {
		t.Fatalf("Load = %v, want an *ExpiredError wrapping ErrNoCredentials", err)
	}
}

// TestLoadRejectsBadConfig: every invalid option fails at start, naming
// the option, before any source is contacted.
func TestLoadRejectsBadConfig(t *testing.T) {
	isolateAWSEnv(t)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{RoleARN: "my-role"}, `invalid --role-arn "my-role"`},
		{Config{RoleARN: "arn:aws:s3:::bucket"}, `service "s3", want iam`},
		{Config{RoleARN: "arn:aws:iam::12345:role/x"}, "want 12 digits"},
		{Config{RoleARN: "arn:aws:iam::123456789012:user/x"}, "want role/NAME"},
		{Config{RoleARN: targetRole, RoleSessionName: "has space"}, "invalid --role-session-name"},
		{Config{RoleARN: targetRole, RoleSessionName: strings.Repeat("a", 65)}, "64 characters"},
		{Config{RoleARN: targetRole, ExternalID: "x"}, "invalid --external-id"},
		{Config{RoleARN: targetRole, RoleDuration: time.Minute}, "invalid --role-duration 1m0s"},
		{Config{RoleARN: targetRole, RoleDuration: 13 * time.Hour}, "invalid --role-duration"},
		{Config{RoleARN: targetRole, RoleDuration: 20*time.Minute + time.Millisecond}, "whole seconds"},
		{Config{ExternalID: "ext-id"}, "--external-id is set but --role-arn is not"},
		{Config{STSEndpoint: "ftp://sts"}, `invalid --sts-endpoint "ftp://sts": scheme must be http or https`},
		{Config{STSEndpoint: "http://"}, "no host"},
		{Config{STSRegion: "eu-west-1.evil.com/"}, "invalid --sts-region"},
		{Config{CredentialsFile: "/no/such/file"}, "--credentials-file"},
		{Config{Profile: "no-such-profile"}, "no-such-profile"},
	} {
		_, err := Load(context.Background(), tc.cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI", SessionToken: "IQoJb3JpZ2lu", Source: "environment"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "c", c)
	for _, out := range []string{buf.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c)} {
		for _, s := range []string{c.SecretAccessKey, c.SessionToken, c.AccessKeyID} {
			if strings.Contains(out, s) {
				t.Errorf("%q shows %q", out, s)
			}
		}
		if !strings.Contains(out, "****MPLE") {
			t.Errorf("%q lacks the key id's last four", out)
		}
	}
}
