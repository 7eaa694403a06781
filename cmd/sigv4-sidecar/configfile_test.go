package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFileLayers: defaults, then the file, then SIGV4_ variables,
// then flags, each winning over the one before.
func TestConfigFileLayers(t *testing.T) {
	path := writeConfig(t, `
listen: 127.0.0.1:7000
admin-listen: 127.0.0.1:7001
payload: signed
body-memory: 1MiB
debug-signing: true
max-idle-conns: 17
shutdown-timeout: 5s
connect-to:
  - a.amazonaws.com:443=127.0.0.1:1
  - b.amazonaws.com:443=127.0.0.1:2
role-arn: arn:aws:iam::123456789012:role/from-file
`)
	cfg, err := loadConfig("serve", []string{"--config", path}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConfigFile != path || cfg.Listen != "127.0.0.1:7000" || cfg.Payload != "signed" || cfg.BodyMemory != 1<<20 || !cfg.DebugSigning ||
		cfg.MaxIdleConns != 17 || cfg.ShutdownTimeout != 5*time.Second || len(cfg.ConnectTo) != 2 || cfg.RoleARN != "arn:aws:iam::123456789012:role/from-file" {
		t.Errorf("the file's options were not applied: %+v", cfg)
	}
	if cfg.MaxBody != 5<<30 || cfg.LogFormat != "json" {
		t.Errorf("defaults not applied under the file: %+v", cfg)
	}

	environ := []string{"SIGV4_CONFIG=" + path, "SIGV4_PAYLOAD=unsigned", "SIGV4_CONNECT_TO=c.amazonaws.com:443=127.0.0.1:3"}
	cfg, err = loadConfig("serve", []string{"--listen", "127.0.0.1:7100"}, environ, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Payload != "unsigned" || strings.Join(cfg.ConnectTo, " ") != "c.amazonaws.com:443=127.0.0.1:3" {
		t.Errorf("variables did not win over the file: payload %q connect-to %v", cfg.Payload, cfg.ConnectTo)
	}
	if cfg.Listen != "127.0.0.1:7100" || cfg.AdminListen != "127.0.0.1:7001" {
		t.Errorf("the flag did not win, or the file's other options were lost: %+v", cfg)
	}

	// --config wins over SIGV4_CONFIG.
	other := writeConfig(t, "listen: 127.0.0.1:7200\nadmin-listen: 127.0.0.1:7201\n")
	cfg, err = loadConfig("serve", []string{"--config=" + other}, environ, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7200" || cfg.ConfigFile != other {
		t.Errorf("--config did not win over SIGV4_CONFIG: %+v", cfg)
	}
}

// TestConfigFileRefusals: each problem stops the start with one line naming
// the file, the line and the option or route at fault.
func TestConfigFileRefusals(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"lissten: 127.0.0.1:1\n", `gateway.yaml:1: lissten: unknown option`},
		{"listen: [127.0.0.1:1, 127.0.0.1:2]\n", `gateway.yaml:1: listen: takes one value, not a list`},
		{"allow-hosts: [\"a.com,b.com\"]\n", `gateway.yaml:1: allow-hosts: "a.com,b.com": one item per list entry, without commas`},
		{"\nbody-memory: 8XB\n", `gateway.yaml:2: body-memory: "8XB": not a size`},
		{"idle-timeout: forever\n", `gateway.yaml:1: idle-timeout: "forever": not a duration`},
		{"payload: fast\n", `gateway.yaml:1: invalid --payload "fast": must be auto, signed, unsigned or chunked`},
		{"routes:\n  - name: a\n    payload: fast\n", `gateway.yaml:3: route "a": payload: "fast": must be auto, signed, unsigned or chunked`},
		{"routes:\n  - name: a\n  - name: a\n", `gateway.yaml:3: route "a": name: duplicate`},
		{"routes: [\n", `gateway.yaml: not valid YAML`},
	} {
		path := writeConfig(t, tc.content)
		err := runEnv(context.Background(), []string{"serve", "--config", path}, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want one line containing %q", tc.content, err, tc.want)
		}
	}
	err := runEnv(context.Background(), []string{"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	// A flag that sets the option is named as the flag, not the file.
	path := writeConfig(t, "payload: signed\n")
	err = runEnv(context.Background(), []string{"serve", "--config", path, "--payload", "fast"}, nil, io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "gateway.yaml") || !strings.Contains(err.Error(), `invalid --payload "fast"`) {
		t.Errorf("bad flag over a good file: %v", err)
	}
}

// TestConfigFileInHelp: --config is an option like the others.
func TestConfigFileInHelp(t *testing.T) {
	var out bytes.Buffer
	if err := runEnv(context.Background(), []string{"serve", "--help"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--config VALUE\n      env SIGV4_CONFIG\n") {
		t.Errorf("--help lacks --config:\n%s", out.String())
	}
}
