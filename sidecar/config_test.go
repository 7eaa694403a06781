package sidecar

import (
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
		{func(c *Config) { c.Region = "US East" }, `invalid --region "US East": use lowercase letters, digits and dashes only`},
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

func TestEscapesRoot(t *testing.T) {
	for p, want := range map[string]bool{
		"/": false, "/a/b": false, "/a/../b": false, "/a/b/../..": false, "/..": true, "/../x": true,
		"/a/../../x": true, "/%2e%2e/x": true, "/a/%2E%2E/%2e%2e/x": true, "/a..b/c": false, "/./../x": true,
	} {
		if got := escapesRoot(p); got != want {
			t.Errorf("escapesRoot(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestStripPresignParams(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"a=1&b=2":                         "a=1&b=2",
		"X-Amz-Signature=x&a=1":           "a=1",
		"a=%2F&x-amz-credential=k&b":      "a=%2F&b",
		"X-Amz-Meta=keep&X-Amz-Date=1":    "X-Amz-Meta=keep",
		"X%2DAmz%2DSignature=x&versionId": "versionId",
	} {
		if got := stripPresignParams(in); got != want {
			t.Errorf("stripPresignParams(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscapesRoot(f *testing.F) {
	for _, s := range []string{"/a/../b", "/../x", "/%2e%2e/", "//..//", "/a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		// Whatever escapesRoot says, a path it accepts resolves under root.
		if escapesRoot(p) {
			return
		}
		depth := 0
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || strings.EqualFold(seg, "%2e%2e") || strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
				depth--
			} else if seg != "" && seg != "." && !strings.EqualFold(seg, "%2e") {
				depth++
			}
			if depth < 0 {
				t.Fatalf("escapesRoot(%q) = false but the path climbs out", p)
			}
		}
	})
}

func FuzzConnInspector(f *testing.F) {
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n"), 3)
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n1\r\na\r\n0\r\n\r\n"), 7)
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;x\r\na\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.0\n\n"), 60)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		// Feeding in any split must hand on the same bytes and give the
		// same records and failure as feeding whole, and never panic.
		whole := &connInspector{}
		wholeN := whole.feed(data)
		parts := &connInspector{}
		if split < 0 {
			split = -split
		}
		cut := 0
		if len(data) > 0 {
			cut = split % (len(data) + 1)
		}
		partsN := parts.feed(data[:cut])
		if partsN == cut {
			partsN += parts.feed(data[cut:])
		}
		if wholeN != partsN || !reflect.DeepEqual(whole.records, parts.records) || !reflect.DeepEqual(whole.err, parts.err) {
			t.Fatalf("whole: %d bytes, %v, %v; split at %d: %d bytes, %v, %v", wholeN, whole.records, whole.err, cut, partsN, parts.records, parts.err)
		}
	})
}
