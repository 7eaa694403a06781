package sidecar

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/route"
)

// compileRoutes compiles a config file's routes with cfg.CheckRoute, as the
// proxy does at start and on every reload.
func compileRoutes(t *testing.T, cfg Config, yaml string) (*route.Set, error) {
	t.Helper()
	f, err := route.Parse("gateway.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return route.Compile(f, cfg.CheckRoute)
}

// TestCheckRouteUsesTheOptionsRules: each field a route shares with the
// command line is refused by the option's own rule, and the error names the
// file, the line, the route and the field.
func TestCheckRouteUsesTheOptionsRules(t *testing.T) {
	for _, tc := range []struct{ field, value, want string }{
		{"upstream", "ftp://s3.amazonaws.com", `:4: route "r": upstream: "ftp://s3.amazonaws.com": scheme must be http or https`},
		{"upstream", "https://user:pw@s3.amazonaws.com", `route "r": upstream: "https://user:pw@s3.amazonaws.com": must not carry user info`},
		{"allow-hosts", "[10.0.0.0/33]", `:4: route "r": allow-hosts: "10.0.0.0/33": looks like a CIDR but is not a valid one`},
		{"service", "s/3", `:4: route "r": service: "s/3": use letters, digits, '-', '_' and '.' only`},
		{"region", "\"eu west 1\"", `:4: route "r": region: "eu west 1": use letters, digits, '-', '_' and '.' only`},
		{"sign-host", "a b", `:4: route "r": sign-host: "a b": not a host name`},
		{"connect-to", "[s3.amazonaws.com]", `:4: route "r": connect-to: "s3.amazonaws.com": want HOST:PORT=ADDR:PORT`},
		{"payload", "fast", `:4: route "r": payload: "fast": must be auto, signed, unsigned or chunked`},
		{"unsigned-headers", "[authorization]", `:4: route "r": unsigned-headers: "authorization": the signature always covers it`},
		{"strip-headers", "[\"a b\"]", `:4: route "r": strip-headers: "a b": not a header name or glob`},
		{"content-sha256", "sometimes", `:4: route "r": content-sha256: "sometimes": must be auto or always`},
		{"preserve-authorization-as", "X-Amz-Auth", `:4: route "r": preserve-authorization-as: "X-Amz-Auth": X-Amz-* headers are AWS's own`},
	} {
		t.Run(tc.field, func(t *testing.T) {
			yaml := "routes:\n  - name: r\n    service: s3\n    " + tc.field + ": " + tc.value + "\n"
			if tc.field == "service" {
				yaml = "routes:\n  - name: r\n    region: eu-west-1\n    service: " + tc.value + "\n"
			}
			_, err := compileRoutes(t, testConfig(), yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %s", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "gateway.yaml:") {
				t.Errorf("error %q does not start with the file", err)
			}
		})
	}
	// A fixed upstream whose host the endpoint table cannot place needs
	// service and region: said for the route's upstream.
	_, err := compileRoutes(t, testConfig(), "routes:\n  - name: r\n    upstream: https://minio.internal:9000\n")
	if err == nil || !strings.Contains(err.Error(), `route "r": upstream: "https://minio.internal:9000": cannot derive`) {
		t.Errorf("upstream without a scope: %v", err)
	}
}

func TestForRoute(t *testing.T) {
	top := testConfig()
	top.Upstream = "https://s3.eu-west-1.amazonaws.com"
	top.Payload = PayloadSigned
	top.StripHeaders = []string{"x-debug"}
	top.Profile = "top"
	top.STSRegion = "eu-west-1"
	top.RoleDuration = time.Hour

	set, err := compileRoutes(t, top, `
routes:
  - name: inherit
  - name: host-mode
    allow-hosts: ["*.amazonaws.com"]
    strip-headers: []
    payload: unsigned
    credentials:
      role-arn: arn:aws:iam::123456789012:role/a
  - name: fixed
    upstream: https://sqs.eu-west-1.amazonaws.com
    region: eu-west-1
    connect-to: ["sqs.eu-west-1.amazonaws.com:443=127.0.0.1:9443"]
`)
	if err != nil {
		t.Fatal(err)
	}
	rs := set.Routes()
	if got := top.ForRoute(rs[0]); !reflect.DeepEqual(got, top) {
		t.Errorf("a route without fields changed the options:\n%+v\nwant\n%+v", got, top)
	}
	h := top.ForRoute(rs[1])
	if h.Upstream != "" || !reflect.DeepEqual(h.AllowHosts, []string{"*.amazonaws.com"}) || h.Payload != PayloadUnsigned || len(h.StripHeaders) != 0 {
		t.Errorf("host-mode route: upstream %q allow %v payload %q strip %v", h.Upstream, h.AllowHosts, h.Payload, h.StripHeaders)
	}
	if h.Profile != "" || h.RoleARN != "arn:aws:iam::123456789012:role/a" || h.STSRegion != "eu-west-1" || h.RoleDuration != time.Hour {
		t.Errorf("host-mode route credentials: %+v; want its own role over the default chain, the top level's STS region and duration", h.Config)
	}
	f := top.ForRoute(rs[2])
	if f.Upstream != "https://sqs.eu-west-1.amazonaws.com" || f.Region != "eu-west-1" || f.Payload != PayloadSigned || f.Profile != "top" || len(f.ConnectTo) != 1 {
		t.Errorf("fixed route: %+v", f)
	}
	if top.Upstream != "https://s3.eu-west-1.amazonaws.com" || top.Payload != PayloadSigned || len(top.StripHeaders) != 1 {
		t.Errorf("ForRoute changed the top-level options: %+v", top)
	}
	var fe *route.FieldError
	if err := top.CheckRoute(rs[2]); err != nil || errors.As(err, &fe) {
		t.Errorf("CheckRoute of a good route: %v", err)
	}
}
