package chartstest

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfileAgreesWithChart: no Docker daemon runs in CI, so the Dockerfile is held to what the rest of
// the project assumes: it builds with `make build` (the recipe TestBinaryFromEmptyRoot runs), the Go
// version of go.mod, the distroless nonroot base whose uid the chart's securityContext names, and puts the
// binary on the PATH the probes' `sigv4-sidecar healthcheck` relies on.
func TestDockerfileAgreesWithChart(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(raw)
	mustMatch := func(what, pattern string) []string {
		t.Helper()
		m := regexp.MustCompile(`(?m)` + pattern).FindStringSubmatch(dockerfile)
		if m == nil {
			t.Errorf("Dockerfile: no %s (%s)", what, pattern)
			return make([]string, 4)
		}
		return m
	}

	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	builder := mustMatch("golang builder stage", `^FROM --platform=\$BUILDPLATFORM golang:(\d+\.\d+)\S* AS build$`)
	if goVersion == nil || builder[1] != string(goVersion[1]) {
		t.Errorf("builder golang:%s, go.mod says go %s", builder[1], goVersion)
	}
	mustMatch("make build with the target platform", `GOOS=\$TARGETOS GOARCH=\$TARGETARCH make build VERSION=\$VERSION`)
	mustMatch("distroless static nonroot final stage", `^FROM gcr\.io/distroless/static-debian12:nonroot$`)
	user := mustMatch("USER", `^USER (\d+):(\d+)$`)
	entry := mustMatch("ENTRYPOINT", `^ENTRYPOINT \["(/usr/local/bin/sigv4-sidecar)"\]$`)
	if !strings.Contains(dockerfile, "COPY --from=build /out/sigv4-sidecar "+entry[1]+"\n") {
		t.Errorf("the binary is not copied to the entrypoint %s", entry[1])
	}

	var values struct {
		SecurityContext struct {
			RunAsUser  json.Number `json:"runAsUser"`
			RunAsGroup json.Number `json:"runAsGroup"`
		} `json:"securityContext"`
	}
	readYAML(t, chartDir+"/values.yaml", &values)
	if values.SecurityContext.RunAsUser.String() != user[1] || values.SecurityContext.RunAsGroup.String() != user[2] {
		t.Errorf("chart runs as %s:%s, the image as %s:%s", values.SecurityContext.RunAsUser, values.SecurityContext.RunAsGroup, user[1], user[2])
	}
}

// TestDockerignoreKeepsWhatTheBuildNeeds: every source file the binary is built from (Go files and
// embedded files of its packages in this module) survives .dockerignore, so `docker build` compiles
// what `make build` compiles here.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	rules := readDockerignore(t)
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module", "./cmd/sigv4-sidecar")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files int
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var pkg struct {
			Dir        string
			GoFiles    []string
			EmbedFiles []string
			Module     *struct{ Path string }
		}
		if err := dec.Decode(&pkg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || pkg.Module.Path != "github.com/sigv4-sidecar/sigv4-sidecar" {
			continue
		}
		for _, f := range slices.Concat(pkg.GoFiles, pkg.EmbedFiles) {
			rel, err := filepath.Rel(root, filepath.Join(pkg.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			files++
			if !dockerKeeps(rules, filepath.ToSlash(rel)) {
				t.Errorf(".dockerignore drops %s, which the binary is built from", rel)
			}
		}
	}
	if files < 10 {
		t.Fatalf("go list found %d source files of the binary: the check is not looking", files)
	}
	for _, f := range []string{"go.mod", "go.sum", "Makefile"} {
		if !dockerKeeps(rules, f) {
			t.Errorf(".dockerignore drops %s", f)
		}
	}
	for _, f := range []string{".git/config", "bin/sigv4-sidecar", "charts/sigv4-sidecar/Chart.yaml", "sidecar/proxy_test.go"} {
		if dockerKeeps(rules, f) {
			t.Errorf(".dockerignore sends %s to the build context", f)
		}
	}
}

type ignoreRule struct {
	pattern string
	keep    bool
}

func readDockerignore(t *testing.T) []ignoreRule {
	f, err := os.Open("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []ignoreRule
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keep := strings.HasPrefix(line, "!")
		rules = append(rules, ignoreRule{pattern: strings.TrimSuffix(strings.TrimPrefix(line, "!"), "/"), keep: keep})
	}
	return rules
}

// dockerKeeps applies .dockerignore rules as Docker does: the last matching rule wins; a pattern matches a
// path or any of its parent directories; ** matches any number of directories.
func dockerKeeps(rules []ignoreRule, path string) bool {
	keep := true
	for _, r := range rules {
		if dockerMatch(r.pattern, path) {
			keep = r.keep
		}
	}
	return keep
}

func dockerMatch(pattern, path string) bool {
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		if globMatch(strings.Split(pattern, "/"), parts[:i]) {
			return true
		}
	}
	return false
}

func globMatch(pattern, parts []string) bool {
	if len(pattern) == 0 {
		return len(parts) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(parts); i++ {
			if globMatch(pattern[1:], parts[i:]) {
				return true
			}
		}
		return false
	}
	if len(parts) == 0 {
		return false
	}
	ok, err := filepath.Match(pattern[0], parts[0])
	return err == nil && ok && globMatch(pattern[1:], parts[1:])
}
