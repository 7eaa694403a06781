package sidecar

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestValidateMessages checks each bad option stops the start with one line
// naming the flag, the value and the problem.
func TestValidateMessages(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	cases := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Upstream = "ftp://x" }, `invalid --upstream "ftp://x": scheme must be http or https`},
		{func(c *Config) { c.Upstream = "https://" }, `invalid --upstream "https://": needs a host`},
		{func(c *Config) { c.Upstream = "https://user:pw@h" }, `invalid --upstream "https://user:pw@h": must not carry user info`},
		{func(c *Config) { c.Upstream = "https://example.com" }, `invalid --upstream "https://example.com": cannot derive the AWS service and region from host "example.com": set --service and --region`},
		{func(c *Config) { c.Upstream = "https://example.com"; c.Service = "s3" }, `set --region`},
		{func(c *Config) { c.Listen = "nonsense" }, `invalid --listen "nonsense": want host:port`},
		{func(c *Config) {
			c.AdminListen = c.Listen
			c.Listen = "127.0.0.1:9000"
			c.AdminListen = "127.0.0.1:9000"
		}, `invalid --admin-listen "127.0.0.1:9000": must differ from --listen`},
		{func(c *Config) { c.Payload = "fast" }, `invalid --payload "fast": must be auto, signed, unsigned or chunked`},
		{func(c *Config) { c.MaxBody = 0 }, `invalid --max-body "0": must be positive`},
		{func(c *Config) { c.ConnectTo = []string{"nohost"} }, `invalid --connect-to "nohost": want HOST:PORT=ADDR:PORT`},
		{func(c *Config) { c.ConnectTo = []string{"a:443=b"} }, `invalid --connect-to "a:443=b": right side: want ADDR:PORT`},
		{func(c *Config) { c.ConnectTo = []string{"a:443=b:0"} }, `right side: port must be 1-65535`},
		{func(c *Config) { c.AllowHosts = []string{"[bad"} }, `invalid --allow-hosts "[bad": bad glob pattern`},
		{func(c *Config) { c.UpstreamCAFile = filepath.Join(dir, "missing.pem") }, `invalid --upstream-ca-file "` + filepath.Join(dir, "missing.pem") + `": cannot read: no such file or directory`},
		{func(c *Config) { c.UpstreamCAFile = notPEM }, `holds no PEM certificate`},
		{func(c *Config) { c.Region = "US East" }, `invalid --region "US East": use letters, digits, '-', '_' and '.' only`},
		{func(c *Config) { c.SignHost = "bad host" }, `invalid --sign-host "bad host"`},
		{func(c *Config) { c.UnsignedHeaders = []string{"Authorization"} }, `invalid --unsigned-headers "authorization": the signature always covers it`},
		{func(c *Config) { c.LogFormat = "xml" }, `invalid --log-format "xml": must be json or text`},
		{func(c *Config) { c.LogLevel = "loud" }, `invalid --log-level "loud"`},
		{func(c *Config) { c.SpoolDir = filepath.Join(dir, "nope") }, `invalid --spool-dir`},
		{func(c *Config) { c.MaxHeaderBytes = 10 }, `invalid --max-header-bytes "10": must be at least 1KiB`},
		{func(c *Config) { c.MaxIdleConns = 0 }, `invalid --max-idle-conns "0": must be at least 1`},
		{func(c *Config) { c.MaxUpstreamConns = -1 }, `invalid --max-upstream-conns "-1": must not be negative`},
		{func(c *Config) { c.BodyReadTimeout = -time.Second }, `invalid --body-read-timeout "-1s": must not be negative`},
		{func(c *Config) { c.SpoolTotal = -1 }, `invalid --spool-total "-1": must not be negative`},
		{func(c *Config) { c.ShutdownDelay = -time.Second }, `invalid --shutdown-delay "-1s": must not be negative`},
		{func(c *Config) { c.Resilience.RetryAttempts = -1 }, `invalid --retry-attempts "-1": must be 1 or more (1 disables retries)`},
	}
	for _, tc := range cases {
		cfg := testConfig()
		tc.mutate(&cfg)
		err := cfg.Validate()
		if err == nil {
			t.Errorf("want %q, got no error", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %q, want one line containing %q", err, tc.want)
		}
		if _, ok := err.(*OptionError); !ok {
			t.Errorf("%q is a %T, want *OptionError", err, err)
		}
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

// TestRegionTheSignerAcceptsIsNotRefusedAtStart: --region foo_bar (and
// --service IoTSecuredTunneling, a signing name of the endpoint table) was
// refused at start by a rule of config.go's own, [a-z0-9-], though the
// signer signs with it. One rule (signer.IsScopeName) decides both; what
// cannot stand in a credential scope is still refused, naming the option.
func TestRegionTheSignerAcceptsIsNotRefusedAtStart(t *testing.T) {
	for _, tc := range []struct{ service, region string }{
		{"s3", "foo_bar"}, {"IoTSecuredTunneling", "us-east-1"}, {"s3", "minio.local"}, {"s3", "US-EAST-1"},
	} {
		cfg := testConfig()
		cfg.Service, cfg.Region = tc.service, tc.region
		if err := cfg.Validate(); err != nil {
			t.Errorf("--service %s --region %s: %v, want accepted", tc.service, tc.region, err)
		}
	}
	for _, bad := range []string{"us/east-1", "us east", "us-east-1\x00", "a\nb", "\t"} {
		cfg := testConfig()
		cfg.Region = bad
		err := cfg.Validate()
		if _, ok := err.(*OptionError); !ok || !strings.HasPrefix(err.Error(), "invalid --region ") {
			t.Errorf("--region %q: %v, want an *OptionError naming --region", bad, err)
		}
	}
}

// TestEveryOptionHasItsTags checks each Config field (nested ones included)
// carries env, flag and help, and that names are unique.
func TestEveryOptionHasItsTags(t *testing.T) {
	seenEnv, seenFlag := map[string]bool{}, map[string]bool{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
				walk(f.Type)
				continue
			}
			env, flag, help := f.Tag.Get("env"), f.Tag.Get("flag"), f.Tag.Get("help")
			if env == "" || flag == "" || help == "" {
				t.Errorf("%s: env %q flag %q help %q", f.Name, env, flag, help)
			}
			if seenEnv[env] || seenFlag[flag] {
				t.Errorf("%s: duplicate env %q or flag %q", f.Name, env, flag)
			}
			seenEnv[env], seenFlag[flag] = true, true
			if FlagName(f.Name) != flag {
				t.Errorf("FlagName(%s) = %q, want %q", f.Name, FlagName(f.Name), flag)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
}

func TestConnectToRules(t *testing.T) {
	r, err := parseConnectTo("*.amazonaws.com:=http://127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	if !r.plainHTTP || r.addr != "127.0.0.1:9000" || !r.matches("s3.us-east-1.amazonaws.com", "443") || r.matches("example.com", "443") {
		t.Errorf("rule %+v", r)
	}
	r, _ = parseConnectTo("sqs.us-east-1.amazonaws.com:443=[::1]:8443")
	if r.addr != "[::1]:8443" || r.matches("sqs.us-east-1.amazonaws.com", "80") {
		t.Errorf("rule %+v", r)
	}
}

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{"1": "1", "443": "443", "00443": "443", "65535": "65535",
		"": "", "0": "", "65536": "", "+443": "", "-1": "", "4 43": "", "004430": "", "٤٤٣": "", "0x1bb": ""} {
		got, ok := parsePort(in)
		if got != want || ok != (want != "") {
			t.Errorf("parsePort(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, err := parseConnectTo("a:+443=b:443"); err == nil || !strings.Contains(err.Error(), "left side") {
		t.Errorf("connect-to with port +443 on the left: %v", err)
	}
}

// TestUpstreamCAFileLargerThan1MiBIsRefused: --upstream-ca-file /dev/zero
// ended the start in "fatal error: out of memory". The file is read up to
// 1 MiB; beyond, the start fails naming the option and the limit.
func TestUpstreamCAFileLargerThan1MiBIsRefused(t *testing.T) {
	big := filepath.Join(t.TempDir(), "ca.pem")
	pem := "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ2F0ZXdheXRlc3RjZXJ0aWZpY2F0ZTAKBggqhkjOPQQD\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(big, []byte(strings.Repeat(pem, 2<<20/len(pem)+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{big, "/dev/zero"} {
		cfg := testConfig()
		cfg.UpstreamCAFile = path
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), `invalid --upstream-ca-file "`+path+`"`) || !strings.Contains(err.Error(), "larger than 1 MiB") {
			t.Fatalf("--upstream-ca-file %s: %v, want an error naming the 1 MiB limit", path, err)
		}
	}
}

// TestConnectToPlainHTTPWithHTTPSUpstream: with --upstream https://NAME, a
// rule NAME:443=http://ADDR was dialled but spoken to in TLS ("first record
// does not look like a TLS handshake"). The rule decides the scheme, as in
// host mode, and the Host signed and sent is still NAME.
func TestConnectToPlainHTTPWithHTTPSUpstream(t *testing.T) {
	up := newUpstream(t)
	for _, rule := range []string{"sqs.us-east-1.amazonaws.com:443=http://", "*.amazonaws.com:=http://"} {
		cfg := testConfig()
		cfg.Upstream = "https://sqs.us-east-1.amazonaws.com"
		cfg.ConnectTo = []string{rule + up.Listener.Addr().String()}
		proxy, _ := startProxy(t, cfg, newStaticSource())
		resp, err := http.Get(proxy.URL + "/123456789012/q?Action=GetQueueAttributes")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || up.count() == 0 {
			t.Fatalf("--connect-to %s: status %d (%s), want 200 from the plain-HTTP address", rule, resp.StatusCode, body)
		}
		if got := up.last(t); got.VerifyErr != nil || got.Host != "sqs.us-east-1.amazonaws.com" || got.Service != "sqs" {
			t.Errorf("--connect-to %s: upstream saw Host %q, service %q: %v", rule, got.Host, got.Service, got.VerifyErr)
		}
	}
}
