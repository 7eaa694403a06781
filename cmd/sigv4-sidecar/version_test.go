package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionOf: a stamped version wins; unstamped, the module version the
// toolchain recorded is used (a tag from the module proxy, a pseudo-version
// in a checkout) with the commit and whether the tree was modified.
func TestVersionOf(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-07T02:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	const module = "github.com/sigv4-sidecar/sigv4-sidecar"
	cases := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    buildVersion
		line    string
	}{
		{"NoBuildInfo", "dev", nil,
			buildVersion{Version: "dev"},
			"sigv4-sidecar dev (GO)"},
		{"GoTestOrGoRun", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: module, Version: "(devel)"}},
			buildVersion{Version: "dev", Module: module, GoVersion: "go1.26.8"},
			"sigv4-sidecar dev (go1.26.8 PLATFORM)"},
		{"GoInstallFromModuleProxy", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: module, Version: "v0.1.0"}},
			buildVersion{Version: "v0.1.0", Module: module, GoVersion: "go1.26.8"},
			"sigv4-sidecar v0.1.0 (go1.26.8 PLATFORM)"},
		{"CheckoutModified", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: module, Version: "v0.1.1-0.20261207020000-0123456789ab+dirty"}, Settings: vcs},
			buildVersion{Version: "v0.1.1-0.20261207020000-0123456789ab+dirty", Module: module, GoVersion: "go1.26.8",
				Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: "2026-12-07T02:00:00Z", Modified: true},
			"sigv4-sidecar v0.1.1-0.20261207020000-0123456789ab+dirty (commit 0123456789ab, modified; go1.26.8 PLATFORM)"},
		{"Stamped", "v0.2.0", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: module, Version: "v0.1.9"}, Settings: vcs[:3]},
			buildVersion{Version: "v0.2.0", Module: module, GoVersion: "go1.26.8",
				Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: "2026-12-07T02:00:00Z"},
			"sigv4-sidecar v0.2.0 (commit 0123456789ab; go1.26.8 PLATFORM)"},
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Platform = platform
			if tc.want.GoVersion == "" {
				tc.want.GoVersion = runtime.Version()
			}
			got := versionOf(tc.stamped, tc.info)
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			line := strings.NewReplacer("GO", runtime.Version()+" "+platform, "PLATFORM", platform).Replace(tc.line)
			if got.String() != line {
				t.Errorf("line %q, want %q", got.String(), line)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := runEnv(context.Background(), []string{"version"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "sigv4-sidecar dev ("; !strings.HasPrefix(out.String(), want) || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("version printed %q, want one line starting %q", out.String(), want)
	}
	out.Reset()
	if err := runEnv(context.Background(), []string{"version", "--json"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var v buildVersion
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.Bytes())
	}
	if v.Version != "dev" || v.Platform != runtime.GOOS+"/"+runtime.GOARCH || v.GoVersion != runtime.Version() {
		t.Errorf("--json gave %+v", v)
	}
	if err := runEnv(context.Background(), []string{"version", "extra"}, nil, io.Discard, io.Discard); err == nil {
		t.Error("version accepted an argument")
	}
}

// TestVersionBinary builds the binary from a git repository made of this
// tree's files, as a user would in a checkout: unstamped (plain `go build`,
// as `go install` does) it reports the module version the toolchain derives
// from git (a pseudo-version naming the commit, then the tag once there is
// one, then +dirty once the tree is modified), the commit and whether the
// tree is modified; stamped (`make build`'s -X main.version) it reports the
// stamp with the same commit.
func TestVersionBinary(t *testing.T) {
	t.Parallel() // beside the package's other tests that build and run the binary
	root := strings.TrimSpace(gitOutput(t, "", "rev-parse", "--show-toplevel"))
	src := t.TempDir()
	files := strings.Split(strings.TrimRight(gitOutput(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00"), "\x00")
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the work tree
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitOutput(t, src, "init", "-q")
	gitOutput(t, src, "add", "-A")
	gitOutput(t, src, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "release test")
	head := strings.TrimSpace(gitOutput(t, src, "rev-parse", "HEAD"))
	bin := filepath.Join(t.TempDir(), "sigv4-sidecar")
	versionOfBuild := func(ldflags string) buildVersion {
		t.Helper()
		// -buildvcs=true: the default, which a GOFLAGS of the machine's may
		// have turned off.
		cmd := goBuild(ldflags, "-buildvcs=true", "-o", bin, "./cmd/sigv4-sidecar")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version", "--json").Output()
		if err != nil {
			t.Fatalf("version --json: %v", err)
		}
		var v buildVersion
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if v.Commit != head || v.Module != "github.com/sigv4-sidecar/sigv4-sidecar" {
			t.Errorf("commit %q module %q; want %q", v.Commit, v.Module, head)
		}
		return v
	}

	if v := versionOfBuild(""); !strings.HasPrefix(v.Version, "v0.0.0-") || !strings.HasSuffix(v.Version, head[:12]) || v.Modified {
		t.Errorf("untagged: version %q modified %v, want a pseudo-version of %s", v.Version, v.Modified, head[:12])
	}
	gitOutput(t, src, "tag", "v0.1.0")
	if v := versionOfBuild(""); v.Version != "v0.1.0" || v.Modified {
		t.Errorf("tagged: version %q modified %v, want v0.1.0", v.Version, v.Modified)
	}
	if v := versionOfBuild("-X main.version=v9.9.9-test"); v.Version != "v9.9.9-test" {
		t.Errorf("stamped: version %q", v.Version)
	}
	if err := os.WriteFile(filepath.Join(src, "NOTES.txt"), []byte("a file git does not know\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v := versionOfBuild(""); v.Version != "v0.1.0+dirty" || !v.Modified {
		t.Errorf("modified: version %q modified %v, want v0.1.0+dirty", v.Version, v.Modified)
	}
}

// TestGoInstallable: `go install <module>/cmd/sigv4-sidecar@version`
// refuses a main module whose go.mod has replace or exclude directives,
// and needs the module path to be where the command lives.
func TestGoInstallable(t *testing.T) {
	out, err := exec.Command("go", "mod", "edit", "-json", filepath.Join("..", "..", "go.mod")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		Module  struct{ Path string }
		Replace []any
		Exclude []any
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	if len(mod.Replace) > 0 || len(mod.Exclude) > 0 {
		t.Errorf("go.mod has replace %v or exclude %v: go install ...@version would refuse it", mod.Replace, mod.Exclude)
	}
	pkg, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(pkg)), mod.Module.Path+"/cmd/sigv4-sidecar"; got != want {
		t.Errorf("command is %s, want %s", got, want)
	}
}

func gitOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}
