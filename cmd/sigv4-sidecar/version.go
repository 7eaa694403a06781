package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildVersion is what `version` reports: stamped by `make build` and the
// release, or else read from the build info the Go toolchain embeds, so a
// binary made by `go install <module>/cmd/sigv4-sidecar@v1.2.3` says
// v1.2.3 and one built in a git checkout names its commit.
type buildVersion struct {
	// Version is main.version when stamped (-ldflags "-X main.version=..."),
	// else the main module's version (a tag, or a pseudo-version in a
	// checkout), else "dev".
	Version string `json:"version"`
	// Commit is the git revision the binary was built from, when the
	// toolchain saw one (not for a build from the module proxy).
	Commit string `json:"commit,omitempty"`
	// CommitTime is that revision's commit time (RFC 3339).
	CommitTime string `json:"commit_time,omitempty"`
	// Modified: the work tree had changes not in Commit.
	Modified bool `json:"modified"`
	// Module is the main module's path.
	Module    string `json:"module,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// versionOf derives the version from the stamped string and the build
// info (nil when the binary has none).
func versionOf(stamped string, info *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: stamped, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		return v
	}
	v.Module = info.Main.Path
	if info.GoVersion != "" {
		v.GoVersion = info.GoVersion
	}
	// "(devel)" is what a build without version information says (go
	// test, go run, -buildvcs=false).
	if stamped == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// currentVersion is this binary's version.
func currentVersion() buildVersion {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return versionOf(version, info)
}

// String is the one line `version` prints: the version first, then what
// it was built from, e.g.
// "sigv4-sidecar v1.2.3 (commit 0123456789ab, modified; go1.26.8 linux/amd64)".
func (v buildVersion) String() string {
	var from []string
	if v.Commit != "" {
		c := "commit " + v.Commit[:min(12, len(v.Commit))]
		if v.Modified {
			c += ", modified"
		}
		from = append(from, c)
	}
	from = append(from, v.GoVersion+" "+v.Platform)
	return "sigv4-sidecar " + v.Version + " (" + strings.Join(from, "; ") + ")"
}

// runVersion prints the version, commit and whether the tree was
// modified; --json prints them as one JSON object for machines.
func runVersion(_ context.Context, inv invocation) error {
	fs := inv.flags("version", "Usage: sigv4-sidecar version [--json]", "Prints the version, commit and whether the tree was modified.")
	asJSON := fs.Bool("json", false, "print a JSON object: version, commit, commit_time, modified, module, go_version, platform")
	if err := fs.parse(inv.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	v := currentVersion()
	if *asJSON {
		enc := json.NewEncoder(inv.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintln(inv.stdout, v)
	return err
}
