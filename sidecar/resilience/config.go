package resilience

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/option"
)

// Config holds the resilience options. The proxy embeds it in its own
// configuration: every field is an option whose environment variable is the
// env tag prefixed with SIGV4_ and whose flag is the flag tag. The zero value
// is valid and turns everything off (no breaker, no retries, no skew
// correction, the base transport's own timeouts); the envDefault tags and
// DefaultConfig turn it on.
type Config struct {
	BreakerFailures int           `env:"BREAKER_FAILURES" flag:"breaker-failures" envDefault:"5" help:"consecutive failures (transport errors, 5xx, throttling) that open an upstream host's circuit breaker; 0 disables the breaker"`
	BreakerOpen     time.Duration `env:"BREAKER_OPEN" flag:"breaker-open" envDefault:"30s" help:"how long an open breaker answers 503 at once before letting a probe through"`
	BreakerProbes   int           `env:"BREAKER_PROBES" flag:"breaker-probes" envDefault:"1" help:"successful probes in a row that close a half-open breaker"`

	RetryAttempts int           `env:"RETRY_ATTEMPTS" flag:"retry-attempts" envDefault:"3" help:"attempts per request, the first included, for transport errors, 5xx and throttling (1 disables retries); only requests whose body can be replayed (none, or buffered for hashing) are retried"`
	RetryBase     time.Duration `env:"RETRY_BASE" flag:"retry-base" envDefault:"100ms" help:"backoff before the first retry; doubles at each attempt, with full jitter"`
	RetryMax      time.Duration `env:"RETRY_MAX" flag:"retry-max" envDefault:"5s" help:"longest backoff between two attempts"`

	ClockSkew bool `env:"CLOCK_SKEW_CORRECTION" flag:"clock-skew-correction" envDefault:"true" help:"when an upstream rejects a signature as skewed, sign with its Date from then on and retry once"`

	// The dial and response-header timeouts are sidecar.Config's
	// --dial-timeout and --response-header-timeout; these are the other two.
	TLSHandshakeTimeout time.Duration `env:"TLS_HANDSHAKE_TIMEOUT" flag:"tls-handshake-timeout" envDefault:"10s" help:"time for the TLS handshake with an upstream, after the TCP connection (then 504)"`
	IdleConnTimeout     time.Duration `env:"IDLE_CONN_TIMEOUT" flag:"idle-conn-timeout" envDefault:"90s" help:"how long an idle upstream connection stays in the pool"`
}

// DefaultConfig returns the defaults the envDefault tags state, for callers
// that do not parse the environment (tests, library use).
func DefaultConfig() Config {
	return Config{
		BreakerFailures:     5,
		BreakerOpen:         30 * time.Second,
		BreakerProbes:       1,
		RetryAttempts:       3,
		RetryBase:           100 * time.Millisecond,
		RetryMax:            5 * time.Second,
		ClockSkew:           true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
}

// Validate reports the first option whose value cannot work as an
// *option.Error: invalid --retry-attempts "0": must be at least 1.
func (c Config) Validate() error {
	type check struct {
		bad  bool
		flag string
		val  any
		why  string
	}
	for _, k := range []check{
		{c.BreakerFailures < 0, "breaker-failures", c.BreakerFailures, "must be 0 (off) or more"},
		{c.BreakerFailures > 0 && c.BreakerOpen <= 0, "breaker-open", c.BreakerOpen, "must be positive"},
		{c.BreakerFailures > 0 && c.BreakerProbes < 1, "breaker-probes", c.BreakerProbes, "must be at least 1"},
		{c.RetryAttempts < 0, "retry-attempts", c.RetryAttempts, "must be 1 or more (1 disables retries)"},
		{c.RetryAttempts > 1 && c.RetryBase <= 0, "retry-base", c.RetryBase, "must be positive"},
		{c.RetryMax < c.RetryBase, "retry-max", c.RetryMax, "must be at least --retry-base"},
		{c.TLSHandshakeTimeout < 0, "tls-handshake-timeout", c.TLSHandshakeTimeout, "must not be negative"},
		{c.IdleConnTimeout < 0, "idle-conn-timeout", c.IdleConnTimeout, "must not be negative"},
	} {
		if k.bad {
			return &option.Error{Flag: k.flag, Value: fmt.Sprint(k.val), Problem: k.why}
		}
	}
	return nil
}

// ApplyTimeouts sets t's TLS handshake and idle connection timeouts (0
// leaves t's own). It mutates t, which must not be in use yet.
func (c Config) ApplyTimeouts(t *http.Transport) {
	if c.TLSHandshakeTimeout > 0 {
		t.TLSHandshakeTimeout = c.TLSHandshakeTimeout
	}
	if c.IdleConnTimeout > 0 {
		t.IdleConnTimeout = c.IdleConnTimeout
	}
}
