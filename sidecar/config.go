package sidecar

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/option"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// EnvPrefix is prepended to every env tag of Config to make its variable name.
const EnvPrefix = "SIGV4_"

// Config is every option of the proxy. It is the one source of truth for the
// command line: each field carries its environment variable (env, prefixed
// with EnvPrefix), its flag (flag), its default (envDefault) and its help
// text (help), and cmd/sigv4-sidecar registers flags from these tags. The
// Helm chart's test reflects over the env tags, nested structs included, so
// every option must live here.
//
// A Config is a plain value; Validate checks it and New compiles it.
type Config struct {
	Listen      string `env:"LISTEN" flag:"listen" envDefault:"127.0.0.1:8080" help:"address the proxy listens on (keep it on loopback in a sidecar)"`
	AdminListen string `env:"ADMIN_LISTEN" flag:"admin-listen" envDefault:"127.0.0.1:8081" help:"address of the admin listener: /healthz, /readyz, /metrics"`

	ConfigFile string `env:"CONFIG" flag:"config" help:"YAML file of options (each named as its flag, without --) and routes (see the routes page of the docs); a flag or SIGV4_ variable wins over the file. Its routes are re-read when it changes and on SIGHUP"`

	Upstream   string   `env:"UPSTREAM" flag:"upstream" help:"fixed mode: send every request to this URL (https, or http); a path in it is prefixed to the request path. Empty: host mode, the target is the request's Host"`
	AllowHosts []string `env:"ALLOW_HOSTS" flag:"allow-hosts" help:"host mode: comma-separated glob patterns of the hosts that are signed and forwarded (default: every AWS partition's DNS suffix). An IP, a CIDR or a name without wildcard also allows loopback, link-local and private addresses, which are refused otherwise"`
	Service    string   `env:"SERVICE" flag:"service" help:"signing name to use instead of the one derived from the host (e.g. s3, execute-api)"`
	Region     string   `env:"REGION" flag:"region" help:"signing region to use instead of the one derived from the host"`
	RegionSet  []string `env:"REGION_SET" flag:"region-set" help:"sign every request with SigV4a (AWS4-ECDSA-P256-SHA256), valid in these comma-separated regions (* for all, us-* for a prefix), instead of SigV4 for one region. Default: SigV4a with region set * only for the hosts that demand it (S3 Multi-Region Access Points, CloudFront KeyValueStore, EventBridge global endpoints), SigV4 elsewhere"`
	SignHost   string   `env:"SIGN_HOST" flag:"sign-host" help:"Host header to sign and send when the address dialled differs from it (an IP, a tunnel, a VPC endpoint name); also the TLS server name in fixed mode"`
	ConnectTo  []string `env:"CONNECT_TO" flag:"connect-to" help:"HOST:PORT=ADDR:PORT, repeatable (comma-separated in the variable): dial ADDR:PORT for requests to HOST:PORT while signing for HOST. HOST may be a glob and PORT empty for any; ADDR:PORT may start with http:// to speak plain HTTP to it (or https:// for TLS), in fixed mode too, whatever --upstream's scheme"`

	UpstreamCAFile        string        `env:"UPSTREAM_CA_FILE" flag:"upstream-ca-file" help:"PEM file of extra CA certificates trusted for upstream TLS, besides the system pool"`
	DialTimeout           time.Duration `env:"DIAL_TIMEOUT" flag:"dial-timeout" envDefault:"10s" help:"limit on connecting to an upstream (TCP; the TLS handshake has --tls-handshake-timeout) (then 504)"`
	ResponseHeaderTimeout time.Duration `env:"RESPONSE_HEADER_TIMEOUT" flag:"response-header-timeout" envDefault:"0s" help:"limit on waiting for an upstream's response headers once the request is sent (then 504); 0: none, the client's own timeout applies"`
	MaxIdleConnsPerHost   int           `env:"MAX_IDLE_CONNS_PER_HOST" flag:"max-idle-conns-per-host" envDefault:"64" help:"idle upstream connections kept per host for reuse"`
	MaxIdleConns          int           `env:"MAX_IDLE_CONNS" flag:"max-idle-conns" envDefault:"256" help:"idle upstream connections kept across all hosts; past it the connection idle longest, most often one to a host used once, is closed"`
	MaxUpstreamConns      int           `env:"MAX_UPSTREAM_CONNS" flag:"max-upstream-conns" envDefault:"0" help:"upstream connections open at once, idle and in use; past it idle ones are closed to make room, and a request that still finds none gets 503 upstream_connections_exhausted with Retry-After. 0: derived from the open-file limit (RLIMIT_NOFILE, which Go raises to its hard limit at start) less a reserve of a quarter, at least 64, for listeners, client connections, spool files and logs"`

	Payload         string   `env:"PAYLOAD" flag:"payload" envDefault:"auto" help:"how bodies are signed: auto (UNSIGNED-PAYLOAD for the S3 family over https and for vpc-lattice-svcs; over http aws-chunked for S3 uploads larger than --body-memory; a body hash elsewhere), signed (always hash), unsigned (UNSIGNED-PAYLOAD), chunked (aws-chunked for S3 PutObject and UploadPart)"`
	BodyMemory      ByteSize `env:"BODY_MEMORY" flag:"body-memory" envDefault:"8MiB" help:"bytes of a body held in memory while it is hashed; beyond, it is spooled to a temporary file"`
	BodyMemoryTotal ByteSize `env:"BODY_MEMORY_TOTAL" flag:"body-memory-total" envDefault:"16MiB" help:"bytes of bodies held in memory at once across all requests; a body that cannot get its memory from what is left is spooled straight to its temporary file (it never waits). 0: no limit but --body-memory per body"`
	MaxBody         ByteSize `env:"MAX_BODY" flag:"max-body" envDefault:"5GiB" help:"largest request body accepted; a larger one gets 413"`
	SpoolDir        string   `env:"SPOOL_DIR" flag:"spool-dir" help:"directory of the temporary files bodies are spooled to (default: the system temporary directory)"`
	SpoolTotal      ByteSize `env:"SPOOL_TOTAL" flag:"spool-total" help:"bytes all spool files may hold together (default: no limit but the disk's); a body that would pass it gets 503 spool_full with Retry-After, or 413 when it alone is larger, and its partial file is removed at once"`
	UnsignedHeaders []string `env:"UNSIGNED_HEADERS" flag:"unsigned-headers" help:"comma-separated header names (globs allowed) forwarded but left out of the signature, besides User-Agent, X-Forwarded-*, Forwarded, Via, X-Amzn-Trace-Id, Expect, the hop-by-hop Connection and Upgrade of a WebSocket handshake and the W3C traceparent, tracestate and baggage"`
	StripHeaders    []string `env:"STRIP_HEADERS" flag:"strip-headers" help:"comma-separated header names (globs allowed) removed from requests before signing"`

	// ContentSHA256 (payload.go) and PreserveAuthorizationAs (preserve.go):
	// issue 17.
	ContentSHA256           string `env:"CONTENT_SHA256" flag:"content-sha256" envDefault:"auto" help:"when X-Amz-Content-Sha256 is sent, signed: auto (where the payload table requires it: the S3 family, aoss, vpc-lattice-svcs; and with UNSIGNED-PAYLOAD) or always (on every request; endpoints behind CloudFront origin access control require it on PUT and POST)"`
	PreserveAuthorizationAs string `env:"PRESERVE_AUTHORIZATION_AS" flag:"preserve-authorization-as" help:"header the client's own Authorization is copied to, and signed under, before the proxy replaces Authorization with its signature (a custom authorizer's token, an OpenSearch fine-grained user's Basic header); its value is never logged. Not Authorization, an X-Amz-* or hop-by-hop name, or one left unsigned or stripped"`

	MaxHeaderBytes    ByteSize      `env:"MAX_HEADER_BYTES" flag:"max-header-bytes" envDefault:"64KiB" help:"largest request header block accepted (then 431)"`
	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" flag:"read-header-timeout" envDefault:"10s" help:"time a client has to send its request headers"`
	BodyReadTimeout   time.Duration `env:"BODY_READ_TIMEOUT" flag:"body-read-timeout" envDefault:"30s" help:"longest wait for the next bytes of a request body (reset by every read that brings some; an Expect: 100-continue that is never followed by its body included); then 408 and the connection is closed. 0: none"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" flag:"idle-timeout" envDefault:"90s" help:"how long an idle client connection is kept open"`
	// UpgradeIdleTimeout is API Gateway's own idle limit for WebSocket
	// connections, 10 minutes (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html).
	UpgradeIdleTimeout time.Duration `env:"UPGRADE_IDLE_TIMEOUT" flag:"upgrade-idle-timeout" envDefault:"10m" help:"how long an upgraded connection (WebSocket) is kept open with no byte passing either way; then both sides are closed. 0: no limit"`
	ShutdownDelay      time.Duration `env:"SHUTDOWN_DELAY" flag:"shutdown-delay" envDefault:"0s" help:"on SIGTERM, how long the proxy keeps serving (with /readyz answering 503, so Kubernetes takes the pod out of its Service) before it drains; keep it plus --shutdown-timeout under the pod's terminationGracePeriodSeconds"`
	ShutdownTimeout    time.Duration `env:"SHUTDOWN_TIMEOUT" flag:"shutdown-timeout" envDefault:"30s" help:"on SIGTERM, how long in-flight requests may take to finish"`

	// MaxProcs is process-wide: cmd/sigv4-sidecar applies it (Procs.Plan).
	MaxProcs Procs `env:"MAX_PROCS" flag:"max-procs" envDefault:"auto" help:"CPUs that run the proxy at once (Go's GOMAXPROCS): auto (one while the proxy uses well under one CPU, Go's default while it needs more; the GOMAXPROCS variable wins when set), 0 (Go's default: the container's CPU limit, at least 2, else the machine's CPUs) or a number up to 1024"`

	LogFormat string `env:"LOG_FORMAT" flag:"log-format" envDefault:"json" help:"log format: json or text"`
	LogLevel  string `env:"LOG_LEVEL" flag:"log-level" envDefault:"info" help:"log level: debug, info, warn or error"`
	// LogFlushInterval: telemetry.BatchWriter.
	LogFlushInterval time.Duration `env:"LOG_FLUSH_INTERVAL" flag:"log-flush-interval" envDefault:"100ms" help:"request log lines are written in batches, at most this long after their request ended (every other line at once, and all on exit); 0 writes each at once"`
	// DebugSigning: issue 8; the lines are written by sidecar/diagnostics.go.
	DebugSigning bool `env:"DEBUG_SIGNING" flag:"debug-signing" envDefault:"false" help:"log every request's canonical request and string to sign (session token hidden), to compare with what AWS computed"`

	// ExitWithoutCredentials: issue 15. By default serve starts without
	// credentials and answers 503 until a fetch succeeds.
	ExitWithoutCredentials bool `env:"EXIT_WITHOUT_CREDENTIALS" flag:"exit-without-credentials" envDefault:"false" help:"exit at start when no credentials can be fetched (three attempts) instead of serving 503 credentials_unavailable and /readyz 503 until a background fetch succeeds"`

	creds.Config
	// Listener holds the TLS, HTTP/2 and client-authentication options of
	// --listen (issue 18; sidecar/listen).
	Listener listen.Config
	// MITM holds the CA with which CONNECT tunnels are accepted (issue 19;
	// sidecar/mitm, sidecar/tunnel.go).
	MITM mitm.Config
	// Resilience holds the breaker, retry, clock-skew, TLS-handshake and
	// idle-connection options; its zero value turns them off.
	Resilience resilience.Config
}

// Payload modes.
const (
	PayloadAuto     = "auto"
	PayloadSigned   = "signed"
	PayloadUnsigned = "unsigned"
	PayloadChunked  = "chunked"
)

// OptionError says which option has a bad value and why (see option.Error):
// invalid --upstream "ftp://x": scheme must be http or https
type OptionError = option.Error

// optionError builds an OptionError for the Config field named field, taking
// the flag name from its tag so that messages never drift from the flags.
func optionError(field, value, problem string) *OptionError {
	return &OptionError{Flag: FlagName(field), Value: value, Problem: problem}
}

// FlagName returns the flag name of the Config field (nested structs
// included) called field, or field itself when there is none.
func FlagName(field string) string {
	if f, ok := findField(reflect.TypeFor[Config](), field); ok {
		if name := f.Tag.Get("flag"); name != "" {
			return name
		}
	}
	return field
}

func findField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == name && f.Tag.Get("flag") != "" {
			return f, true
		}
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("flag") == "" {
			if nested, ok := findField(f.Type, name); ok {
				return nested, true
			}
		}
	}
	return reflect.StructField{}, false
}

// connectRule is one parsed --connect-to entry.
type connectRule struct {
	hostPattern string // glob over the lowercase host
	port        string // "" matches every port
	addr        string // host:port to dial
	plainHTTP   bool   // speak http, not https, to addr
	// scheme is the one ADDR:PORT was written with, "" for none: then
	// the request's own scheme is kept (https in host mode).
	scheme string
}

func (r connectRule) matches(host, port string) bool {
	if r.port != "" && r.port != port {
		return false
	}
	ok, _ := path.Match(r.hostPattern, host)
	return ok
}

// compiled is a validated Config in the shape the proxy uses.
type compiled struct {
	cfg          Config
	upstream     *url.URL // nil in host mode
	allow        allowList
	connectTo    []connectRule
	unsigned     []string // lowercase globs
	strip        []string // lowercase globs
	caPEM        []byte
	fixedService string // fixed mode: resolved at start
	fixedRegion  string
	// fixedRegionSet is fixed mode's SigV4a region set; nil: SigV4.
	fixedRegionSet []string
	// regionSet is --region-set, validated (sigv4a.go).
	regionSet []string
	// bodyBudget is --body-memory-total, shared by every spool.
	bodyBudget *body.Budget
	// fixedSignHost is the Host fixed mode signs and sends when a
	// --connect-to rule changed the upstream's scheme (see
	// applyConnectScheme); "" otherwise.
	fixedSignHost string
	// spoolBudget is --spool-total: the same accounting, for file bytes.
	spoolBudget *body.Budget
	// upstreamConns is --max-upstream-conns.
	upstreamConns *connBudget

	// preservedAuthorization is --preserve-authorization-as in canonical
	// form, "" when off (preserve.go).
	preservedAuthorization string
}

// Validate checks every option and returns an *OptionError naming the first
// bad one.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// compile validates c and builds what the proxy uses, one concern at a time
// in the order a user reads the options; the first bad option stops it.
func (c Config) compile() (*compiled, error) {
	out := &compiled{cfg: c}
	for _, step := range []func(*compiled) error{
		(*compiled).compileListeners,   // --listen, --admin-listen
		(*compiled).compileUpstream,    // --upstream, --sign-host: fixed or host mode
		(*compiled).compileRegionSet,   // --region-set (sigv4a.go)
		(*compiled).compileScopeNames,  // --service, --region
		(*compiled).compileAllowList,   // --allow-hosts
		(*compiled).compileConnectTo,   // --connect-to
		(*compiled).compileUpstreamCA,  // --upstream-ca-file
		(*compiled).compileBodies,      // --payload and what bodies may hold
		(*compiled).compileHeaders,     // --unsigned-headers, --strip-headers
		(*compiled).compileContentHash, // --content-sha256
		(*compiled).compilePreserved,   // --preserve-authorization-as, after the headers it must escape
		(*compiled).compileTimeouts,    // every duration
		(*compiled).compileConnections, // --max-procs, idle and upstream connections
		(*compiled).compileLogging,     // --log-format, --log-level
		(*compiled).compileResilience,  // breaker, retries, clock skew
		(*compiled).compileListenerTLS, // TLS, HTTP/2, client authentication
		(*compiled).compileMITM,        // --mitm-ca-cert, --mitm-ca-key
		(*compiled).compileFixedScope,  // fixed mode's service and region, once
	} {
		if err := step(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *compiled) compileListeners() error {
	cfg := &c.cfg
	for _, l := range []struct{ field, value string }{{"Listen", cfg.Listen}, {"AdminListen", cfg.AdminListen}} {
		if _, _, err := net.SplitHostPort(l.value); err != nil {
			return optionError(l.field, l.value, "want host:port, such as 127.0.0.1:8080")
		}
	}
	if cfg.Listen == cfg.AdminListen && !strings.HasSuffix(cfg.Listen, ":0") {
		return optionError("AdminListen", cfg.AdminListen, "must differ from --listen: admin paths never share the proxy's listener")
	}
	return nil
}

// compileUpstream parses --upstream (fixed mode; host mode without it) to
// the URL requests go to, and checks --sign-host.
func (c *compiled) compileUpstream() error {
	cfg := &c.cfg
	if cfg.Upstream != "" {
		u, err := url.Parse(cfg.Upstream)
		switch {
		case err != nil:
			return optionError("Upstream", cfg.Upstream, "not a URL")
		case u.Scheme != "http" && u.Scheme != "https":
			return optionError("Upstream", cfg.Upstream, "scheme must be http or https")
		case u.Host == "" || u.Hostname() == "":
			return optionError("Upstream", cfg.Upstream, "needs a host")
		case u.User != nil:
			return optionError("Upstream", cfg.Upstream, "must not carry user info: credentials come from the AWS chain")
		case u.Fragment != "" || u.RawQuery != "":
			return optionError("Upstream", cfg.Upstream, "must not carry a query or fragment")
		}
		if u.Port() != "" {
			port, ok := parsePort(u.Port())
			if !ok {
				return optionError("Upstream", cfg.Upstream, "port must be 1-65535")
			}
			u.Host = net.JoinHostPort(u.Hostname(), port)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		c.upstream = u
	}
	if cfg.SignHost != "" && !validHostPort(cfg.SignHost) {
		return optionError("SignHost", cfg.SignHost, "not a host name (with an optional :port)")
	}
	return nil
}

func (c *compiled) compileScopeNames() error {
	cfg := &c.cfg
	for _, v := range []struct{ field, value string }{{"Service", cfg.Service}, {"Region", cfg.Region}} {
		if v.value != "" && !signer.IsScopeName(v.value) {
			return optionError(v.field, v.value, "use letters, digits, '-', '_' and '.' only")
		}
	}
	return nil
}

func (c *compiled) compileAllowList() error {
	allow, err := newAllowList(c.cfg.AllowHosts)
	c.allow = allow
	return err
}

func (c *compiled) compileConnectTo() error {
	for _, ct := range c.cfg.ConnectTo {
		rule, err := parseConnectTo(ct)
		if err != nil {
			return optionError("ConnectTo", ct, err.Error())
		}
		c.connectTo = append(c.connectTo, rule)
	}
	c.applyConnectScheme()
	return nil
}

func (c *compiled) compileUpstreamCA() error {
	cfg := &c.cfg
	if cfg.UpstreamCAFile == "" {
		return nil
	}
	pem, err := creds.ReadFile(cfg.UpstreamCAFile)
	if err != nil {
		return optionError("UpstreamCAFile", cfg.UpstreamCAFile, "cannot read: "+errorsReason(err))
	}
	if !strings.Contains(string(pem), "-----BEGIN CERTIFICATE-----") {
		return optionError("UpstreamCAFile", cfg.UpstreamCAFile, "holds no PEM certificate")
	}
	c.caPEM = pem
	return nil
}

// compileBodies checks how bodies are signed and what they may hold in
// memory and on disk, and makes the budgets every request shares.
func (c *compiled) compileBodies() error {
	cfg := &c.cfg
	switch cfg.Payload {
	case PayloadAuto, PayloadSigned, PayloadUnsigned, PayloadChunked:
	default:
		return optionError("Payload", cfg.Payload, "must be auto, signed, unsigned or chunked")
	}
	if cfg.BodyMemory < 0 {
		return optionError("BodyMemory", cfg.BodyMemory.String(), "must not be negative")
	}
	if cfg.BodyMemoryTotal < 0 {
		return optionError("BodyMemoryTotal", cfg.BodyMemoryTotal.String(), "must not be negative")
	}
	c.bodyBudget = body.NewBudget(int64(cfg.BodyMemoryTotal))
	if cfg.SpoolTotal < 0 {
		return optionError("SpoolTotal", cfg.SpoolTotal.String(), "must not be negative")
	}
	c.spoolBudget = body.NewBudget(int64(cfg.SpoolTotal))
	if cfg.MaxBody <= 0 {
		return optionError("MaxBody", cfg.MaxBody.String(), "must be positive")
	}
	if cfg.MaxHeaderBytes < 1024 {
		return optionError("MaxHeaderBytes", cfg.MaxHeaderBytes.String(), "must be at least 1KiB")
	}
	if cfg.SpoolDir != "" {
		if st, err := os.Stat(cfg.SpoolDir); err != nil || !st.IsDir() {
			return optionError("SpoolDir", cfg.SpoolDir, "not an existing directory")
		}
	}
	return nil
}

func (c *compiled) compileHeaders() error {
	cfg := &c.cfg
	for _, h := range []struct {
		field string
		list  []string
		dst   *[]string
	}{{"UnsignedHeaders", cfg.UnsignedHeaders, &c.unsigned}, {"StripHeaders", cfg.StripHeaders, &c.strip}} {
		for _, name := range h.list {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if _, err := path.Match(name, ""); err != nil || strings.ContainsAny(name, " :/") {
				return optionError(h.field, name, "not a header name or glob")
			}
			switch name {
			case "host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token":
				if h.field == "UnsignedHeaders" {
					return optionError(h.field, name, "the signature always covers it")
				}
			}
			*h.dst = append(*h.dst, name)
		}
	}
	return nil
}

func (c *compiled) compileTimeouts() error {
	cfg := &c.cfg
	for _, d := range []struct {
		field string
		value time.Duration
	}{{"DialTimeout", cfg.DialTimeout}, {"ResponseHeaderTimeout", cfg.ResponseHeaderTimeout}, {"ReadHeaderTimeout", cfg.ReadHeaderTimeout}, {"BodyReadTimeout", cfg.BodyReadTimeout}, {"IdleTimeout", cfg.IdleTimeout}, {"UpgradeIdleTimeout", cfg.UpgradeIdleTimeout}, {"ShutdownDelay", cfg.ShutdownDelay}, {"ShutdownTimeout", cfg.ShutdownTimeout}, {"LogFlushInterval", cfg.LogFlushInterval}} {
		if d.value < 0 {
			return optionError(d.field, d.value.String(), "must not be negative")
		}
	}
	return nil
}

// compileConnections checks the CPU and connection limits and makes the
// upstream connection budget.
func (c *compiled) compileConnections() error {
	cfg := &c.cfg
	if cfg.MaxProcs < ProcsAuto || cfg.MaxProcs > MaxProcsLimit {
		return optionError("MaxProcs", cfg.MaxProcs.String(), errProcs.Error())
	}
	if cfg.MaxIdleConnsPerHost < 0 {
		return optionError("MaxIdleConnsPerHost", strconv.Itoa(cfg.MaxIdleConnsPerHost), "must not be negative")
	}
	if cfg.MaxIdleConns < 1 {
		return optionError("MaxIdleConns", strconv.Itoa(cfg.MaxIdleConns), "must be at least 1")
	}
	if cfg.MaxUpstreamConns < 0 {
		return optionError("MaxUpstreamConns", strconv.Itoa(cfg.MaxUpstreamConns), "must not be negative (0: derived from the open-file limit)")
	}
	c.upstreamConns = &connBudget{limit: upstreamConnBudget(cfg.MaxUpstreamConns)}
	return nil
}

func (c *compiled) compileLogging() error {
	cfg := &c.cfg
	switch cfg.LogFormat {
	case "json", "text":
	default:
		return optionError("LogFormat", cfg.LogFormat, "must be json or text")
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return optionError("LogLevel", cfg.LogLevel, "must be debug, info, warn or error")
	}
	return nil
}

func (c *compiled) compileResilience() error {
	return c.cfg.Resilience.Validate()
}

// compileMITM checks the MITM CA's files once. Tunnels are host mode: the
// requests inside go to the host the client named.
func (c *compiled) compileMITM() error {
	if err := c.cfg.MITM.Check(); err != nil {
		return err
	}
	if c.cfg.MITM.Enabled() && c.upstream != nil {
		return optionError("CACertFile", c.cfg.MITM.CACertFile, "CONNECT tunnels reach the host the client names (host mode): drop --upstream, or drop --mitm-ca-cert and --mitm-ca-key")
	}
	return nil
}

// compileListenerTLS checks --listen's TLS, HTTP/2 and client
// authentication options (sidecar/listen), their files included.
func (c *compiled) compileListenerTLS() error {
	return c.cfg.Listener.Check()
}

// compileFixedScope resolves, once, the service and region fixed mode
// signs every request for (--sign-host, when set, names the host).
func (c *compiled) compileFixedScope() error {
	cfg := &c.cfg
	if c.upstream == nil {
		return nil
	}
	host := c.upstream.Hostname()
	if cfg.SignHost != "" {
		host = cfg.SignHost
	}
	s, err := endpoint.SigningFor(host, cfg.Service, cfg.Region, c.regionSet)
	if err != nil {
		return optionError("Upstream", cfg.Upstream, err.Error())
	}
	c.fixedService, c.fixedRegion, c.fixedRegionSet = s.Service, s.Region, s.RegionSet
	return nil
}

// applyConnectScheme lets a --connect-to rule that matches the fixed
// upstream decide the scheme, as it does in host mode: --upstream
// https://name with name:443=http://ADDR speaks plain HTTP to ADDR. The URL
// keeps the port the rule matched, so that the dialler finds the rule
// again, and the Host signed and sent stays the upstream's as written.
func (c *compiled) applyConnectScheme() {
	u := c.upstream
	if u == nil {
		return
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	rule, ok := c.connectRuleFor(u.Hostname(), port)
	if !ok || rule.scheme == "" || rule.scheme == u.Scheme {
		return
	}
	moved := *u
	moved.Scheme = rule.scheme
	moved.Host = net.JoinHostPort(u.Hostname(), port)
	c.fixedSignHost = u.Host
	c.upstream = &moved
}

func parseConnectTo(s string) (connectRule, error) {
	from, to, ok := strings.Cut(s, "=")
	if !ok {
		return connectRule{}, fmt.Errorf("want HOST:PORT=ADDR:PORT")
	}
	var r connectRule
	host, port, err := net.SplitHostPort(strings.TrimSpace(from))
	if err != nil {
		return connectRule{}, fmt.Errorf("left side: want HOST:PORT (PORT may be empty)")
	}
	r.hostPattern, r.port = strings.ToLower(host), port
	if r.hostPattern == "" {
		r.hostPattern = "*"
	}
	if _, err := path.Match(r.hostPattern, ""); err != nil {
		return connectRule{}, fmt.Errorf("left side: bad glob pattern")
	}
	to = strings.TrimSpace(to)
	if rest, ok := strings.CutPrefix(to, "http://"); ok {
		r.plainHTTP, r.scheme, to = true, "http", rest
	} else if rest, ok := strings.CutPrefix(to, "https://"); ok {
		r.scheme, to = "https", rest
	}
	ah, ap, err := net.SplitHostPort(to)
	if err != nil || ah == "" {
		return connectRule{}, fmt.Errorf("right side: want ADDR:PORT")
	}
	ap, ok = parsePort(ap)
	if !ok {
		return connectRule{}, fmt.Errorf("right side: port must be 1-65535")
	}
	if port != "" {
		if r.port, ok = parsePort(port); !ok {
			return connectRule{}, fmt.Errorf("left side: port must be 1-65535")
		}
	}
	r.addr = net.JoinHostPort(ah, ap)
	return r, nil
}

// parsePort reads a TCP port as RFC 3986 section 3.2.3 writes it: 1 to 5
// ASCII digits, here also 1 to 65535. It returns the port without leading
// zeros, the one spelling the allow check, the --connect-to match and the
// dialler all compare. strconv.Atoi alone is not enough: it takes "+443",
// which net/http then dials as written, so a rule for port 443 would not
// apply to a request the allow check had taken for port 443.
func parsePort(s string) (string, bool) {
	if len(s) < 1 || len(s) > 5 {
		return "", false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return "", false
	}
	return strconv.Itoa(n), true
}

// validHostPort reports whether s is a DNS name or IP literal with an
// optional :port, as allowed in a Host header.
func validHostPort(s string) bool {
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host = h
		if _, ok := parsePort(p); !ok {
			return false
		}
	} else if strings.Contains(s, ":") && !strings.HasPrefix(s, "[") {
		if _, err := netip.ParseAddr(s); err != nil {
			return false
		}
		return true
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func errorsReason(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
