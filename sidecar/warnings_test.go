package sidecar

import (
	"log/slog"
	"net"
	"strings"
	"testing"
)

const (
	warnAllowHosts = "host mode signs for every host under AWS's DNS suffixes"
	warnProxyAddr  = "the proxy listener is not on loopback"
	warnAdminAddr  = "the admin listener is not on loopback"
)

// warnLines runs a Server with cfg until it listens, stops it, and returns
// its WARN lines.
func warnLines(t *testing.T, cfg Config) []string {
	t.Helper()
	logs := &logBuffer{}
	_, _, stop := runServerWithLog(t, cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var warns []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"level":"WARN"`) {
			warns = append(warns, l)
		}
	}
	return warns
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// TestStartWarnsOfDefaultAllowHosts: host mode with the default
// --allow-hosts (or a list holding a whole AWS suffix) signs for hosts
// anyone can own under those suffixes; the start says so once, with how to
// narrow the list. Fixed mode and a narrow list get no such line, and
// loopback listeners no listener warning.
func TestStartWarnsOfDefaultAllowHosts(t *testing.T) {
	for _, c := range []struct {
		name       string
		upstream   string
		allowHosts []string
		want       int
	}{
		{"HostModeDefault", "", nil, 1},
		{"HostModeWholeSuffix", "", []string{"sqs.us-east-1.amazonaws.com", "*.amazonaws.com"}, 1},
		{"HostModeNarrow", "", []string{"sqs.us-east-1.amazonaws.com", "my-bucket.s3.us-east-1.amazonaws.com"}, 0},
		{"FixedMode", "http://127.0.0.1:1", nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Upstream, cfg.AllowHosts = c.upstream, c.allowHosts
			if c.upstream != "" {
				cfg.Service, cfg.Region = "sqs", "us-east-1"
			}
			warns := warnLines(t, cfg)
			if n := count(warns, warnAllowHosts); n != c.want {
				t.Errorf("%d allow-hosts warnings, want %d:\n%s", n, c.want, strings.Join(warns, "\n"))
			}
			if c.want == 1 && count(warns, "--allow-hosts '") != 1 {
				t.Errorf("the warning does not show how to narrow --allow-hosts:\n%s", strings.Join(warns, "\n"))
			}
			if n := count(warns, "not on loopback"); n != 0 {
				t.Errorf("%d listener warnings for loopback listeners:\n%s", n, strings.Join(warns, "\n"))
			}
		})
	}
}

// TestStartWarnsOfNonLoopbackListener: a proxy or admin listener bound to a
// non-loopback address (0.0.0.0, ::, a pod IP) gets one WARN each at start:
// whoever reaches it can use the proxy's credentials. The addresses are
// given, not bound: tests listen on loopback only.
func TestStartWarnsOfNonLoopbackListener(t *testing.T) {
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	loop6 := &net.TCPAddr{IP: net.IPv6loopback, Port: 8081}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 8081}
	podIP := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8081}
	for _, c := range []struct {
		name             string
		proxy, admin     net.Addr
		wantProxy, wantA int
	}{
		{"BothLoopback", loop, loop6, 0, 0},
		{"ProxyEverywhere", any4, loop, 1, 0},
		{"AdminEverywhere", loop, any6, 0, 1},
		{"BothExposed", any4, podIP, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuffer{}
			cfg := testConfig()
			cfg.Upstream = "http://127.0.0.1:1"
			warnAtStart(slog.New(slog.NewJSONHandler(logs, nil)), cfg, c.proxy, c.admin)
			warns := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if n := count(warns, warnProxyAddr); n != c.wantProxy {
				t.Errorf("%d proxy listener warnings, want %d:\n%s", n, c.wantProxy, logs)
			}
			if n := count(warns, warnAdminAddr); n != c.wantA {
				t.Errorf("%d admin listener warnings, want %d:\n%s", n, c.wantA, logs)
			}
			if c.wantProxy == 1 && count(warns, "can have requests signed with the proxy's credentials") != 1 {
				t.Errorf("the proxy warning does not say what is at stake:\n%s", logs)
			}
		})
	}
}
