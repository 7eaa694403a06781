package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// The documentation tests read the repository's README.md and docs/ from
// here, two levels below the root.
const repoRoot = "../.."

var updateDocs = flag.Bool("update", false, "rewrite docs/options.md from `sigv4-sidecar options --markdown`")

// TestOptionsPageIsGenerated keeps docs/options.md equal to what
// `sigv4-sidecar options --markdown` prints, so the reference cannot drift
// from the flag definitions. go test -run TestOptionsPageIsGenerated -update
// rewrites the page.
func TestOptionsPageIsGenerated(t *testing.T) {
	var out bytes.Buffer
	if err := runEnv(context.Background(), []string{"options", "--markdown"}, []string{"SIGV4_LISTEN=127.0.0.1:1"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(repoRoot, "docs", "options.md")
	if *updateDocs {
		if err := os.WriteFile(page, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("docs/options.md differs from `sigv4-sidecar options --markdown`: run\n"+
			"  go run ./cmd/sigv4-sidecar options --markdown > docs/options.md\n"+
			"(or go test ./cmd/sigv4-sidecar/ -run TestOptionsPageIsGenerated -update); first difference at line %d",
			firstDifferentLine(out.String(), string(want)))
	}
	// What TestReadmeListsEveryOption checked of the README's table: a row
	// per option of sidecar.Config (nested ones included) with its
	// variable and its default, whatever SIGV4_ variables are set.
	for _, o := range optionsOf(&sidecar.Config{}) {
		row := "| `--" + o.flag + "` | `" + o.env + "` | "
		if o.def != "" {
			row += "`" + o.def + "` |"
		}
		if !strings.Contains(out.String(), "\n"+row) {
			t.Errorf("options --markdown lacks the row starting %s", row)
		}
	}
}

// TestOptionsListsEveryCommand: `options` without --markdown prints serve's
// options as serve --help does, then each other command's flags.
func TestOptionsListsEveryCommand(t *testing.T) {
	var out, help bytes.Buffer
	if err := runEnv(context.Background(), []string{"options"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runEnv(context.Background(), []string{"serve", "--help"}, nil, &help, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), help.String()) {
		t.Errorf("options does not start with serve's option list:\n%s", out.String())
	}
	for _, want := range []string{"\nsigv4-sidecar healthcheck:\n  --admin-listen string\n", "\n  --ready\n", "\nsigv4-sidecar demo:\n",
		"\nsigv4-sidecar explain:\n", "\n  -X string\n", "\nsigv4-sidecar options:\n  --markdown\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("options lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "sigv4-sidecar completion:") {
		t.Error("options lists completion, which has no flags")
	}
}

func firstDifferentLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// docFiles are the pages whose links TestDocsLinksResolve walks.
func docFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	return append([]string{filepath.Join(repoRoot, "README.md")}, pages...)
}

var (
	fenceLine  = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
)

// markdownProse returns a page's lines outside fenced code blocks.
func markdownProse(text string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if fenceLine.MatchString(line) {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, line)
		}
	}
	return out
}

// markdownLinks returns the targets of a page's inline links, outside code.
func markdownLinks(text string) []string {
	var links []string
	for _, line := range markdownProse(text) {
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, "``"), -1) {
			links = append(links, m[1])
		}
	}
	return links
}

// githubAnchors returns the anchors GitHub gives a page's headings: the
// heading's text (link text, code without its backticks, no emphasis
// marks) in lower case, spaces turned into hyphens, every other character
// but letters, digits, marks, '-' and '_' dropped; a repeated anchor gets
// -1, -2, ...
func githubAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range markdownProse(text) {
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		heading := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(m[2], "$1")
		heading = strings.NewReplacer("`", "", "**", "", "__", "").Replace(heading)
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r):
				b.WriteRune(r)
			}
		}
		anchor := b.String()
		if n := seen[anchor]; n > 0 {
			seen[anchor]++
			anchor += "-" + strconv.Itoa(n)
		} else {
			seen[anchor] = 1
		}
		anchors[anchor] = true
	}
	return anchors
}

func TestGithubAnchors(t *testing.T) {
	got := githubAnchors("# Options\n## The default `--allow-hosts`\n### Rotation, and what happens when credentials fail\n" +
		"```sh\n# not a heading\n```\n## Options\n## [Error codes](x.md) 2xx/5xx\n")
	for _, want := range []string{"options", "the-default---allow-hosts", "rotation-and-what-happens-when-credentials-fail", "options-1", "error-codes-2xx5xx"} {
		if !got[want] {
			t.Errorf("anchor %q missing from %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block was taken for a heading")
	}
}

// TestDocsLinksResolve walks every relative link of README.md and
// docs/*.md: the file or directory must exist inside the repository, and
// a #fragment must be one of the anchors GitHub gives the target page's
// headings.
func TestDocsLinksResolve(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	anchorsOf := map[string]map[string]bool{}
	anchors := func(path string) map[string]bool {
		if a, ok := anchorsOf[path]; ok {
			return a
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		anchorsOf[path] = githubAnchors(string(text))
		return anchorsOf[path]
	}
	checked := 0
	for _, page := range docFiles(t) {
		page, _ = filepath.Abs(page)
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, page)
		for _, link := range markdownLinks(string(text)) {
			if regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(link) {
				continue // https:, mailto:: not a file of ours
			}
			checked++
			path, fragment, _ := strings.Cut(link, "#")
			target := page
			if path != "" {
				if strings.HasPrefix(path, "/") {
					t.Errorf("%s: link %q is absolute; GitHub resolves it against the site, not the repository", rel, link)
					continue
				}
				target = filepath.Join(filepath.Dir(page), filepath.FromSlash(path))
				if r, err := filepath.Rel(root, target); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s: link %q leaves the repository", rel, link)
					continue
				}
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s: link %q: no such file or directory", rel, link)
					continue
				}
			}
			if fragment != "" && strings.HasSuffix(target, ".md") && !anchors(target)[fragment] {
				t.Errorf("%s: link %q: %s has no heading with the anchor #%s", rel, link, filepath.Base(target), fragment)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d relative links found: the link parser is broken", checked)
	}
}

// TestReadmeLinksEveryDocsPage: every page under docs/ is reachable from
// the README's table of contents.
func TestReadmeLinksEveryDocsPage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, contents, ok := strings.Cut(string(readme), "\n## Contents\n")
	if !ok {
		t.Fatal("README has no ## Contents section")
	}
	contents, _, _ = strings.Cut(contents, "\n## ")
	linked := map[string]bool{}
	for _, l := range markdownLinks(contents) {
		path, _, _ := strings.Cut(l, "#")
		linked[path] = true
	}
	for _, page := range docFiles(t)[1:] {
		if name := "docs/" + filepath.Base(page); !linked[name] {
			t.Errorf("the README's Contents does not link %s", name)
		}
	}
}

// firstScreen returns the commands of the README's first screen (the shell
// blocks before its table of contents), one per line, comments removed.
func firstScreen(t *testing.T) (commands []string, prose string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	screen, _, ok := strings.Cut(string(readme), "\n## Contents\n")
	if !ok {
		t.Fatal("README has no ## Contents section")
	}
	inSh := false
	for _, line := range strings.Split(screen, "\n") {
		switch {
		case line == "```sh":
			inSh = true
		case strings.HasPrefix(line, "```"):
			inSh = false
		case inSh:
			if cmd := strings.TrimSpace(regexp.MustCompile(`\s+#.*$`).ReplaceAllString(line, "")); cmd != "" {
				commands = append(commands, cmd)
			}
		}
	}
	return commands, screen
}

// TestReadmeFirstScreen runs the commands of the README's first screen in
// the order it gives them, as written: the install (make build, its output
// sent to a temporary directory through make's BUILD_OUT), the demo (on a
// free port instead of 8080: tests never take it), and the curl line the
// demo prints, which must be the README's with the demo's address; the
// demo's upstream must say the signature verified, and Ctrl-C (SIGINT) must
// stop the demo. `make test` is the test command itself: it must be what
// CI runs. The Go version the README asks for must be go.mod's.
func TestReadmeFirstScreen(t *testing.T) {
	t.Parallel() // beside the package's other tests that build and run the binary
	commands, prose := firstScreen(t)
	if len(commands) != 4 || !strings.HasPrefix(commands[0], "make build") || !strings.HasSuffix(commands[1], " demo") ||
		!strings.HasPrefix(commands[2], "curl ") || commands[3] != "make test" {
		t.Fatalf("the first screen's commands are %q; want the install (make build), demo, the curl line it prints and make test", commands)
	}

	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.Contains(prose, "Go "+string(goVersion[1])+" or later") {
		t.Errorf("the README should ask for Go %s or later, as go.mod's go line says", goVersion[1])
	}
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(ci)), "\n"); lines[len(lines)-1] != commands[3] {
		t.Errorf("CI runs %q, the README documents %q", lines[len(lines)-1], commands[3])
	}

	dir := t.TempDir()
	env := isolatedEnv(dir)

	// 1. Install.
	build := exec.Command("sh", "-c", commands[0])
	build.Dir = repoRoot
	build.Env = append(append([]string{}, os.Environ()...), "BUILD_OUT="+filepath.Join(dir, "bin", "sigv4-sidecar"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", commands[0], err, out)
	}

	// 2. The demo, as written but on a free port.
	args := strings.Fields(commands[1])
	demo := exec.Command(args[0], append(args[1:], "--listen", "127.0.0.1:0")...)
	demo.Dir = dir
	demo.Env = env
	var stderr syncBuffer
	demo.Stderr = &stderr
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatalf("%s: %v", commands[1], err)
	}
	exited := make(chan error, 1)
	curlPrinted := make(chan []string, 1)
	go func() {
		printed := curlPrinted
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(strings.TrimSpace(sc.Text()), "curl ") && printed != nil {
				printed <- append([]string(nil), lines...)
				printed = nil
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- demo.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			demo.Process.Kill()
			<-exited
		}
	})
	var lines []string
	select {
	case lines = <-curlPrinted:
	case err := <-exited:
		stopped = true
		t.Fatalf("%s exited before printing a curl line: %v\n%s", commands[1], err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed no curl line in 60s:\n%s", commands[1], stderr.String())
	}
	var proxy []string
	for _, l := range lines {
		if m := regexp.MustCompile(`^proxy:\s+http://(127\.0\.0\.1:\d+) `).FindStringSubmatch(l); m != nil {
			proxy = m
		}
	}
	if proxy == nil {
		t.Fatalf("the demo did not say where its proxy listens:\n%s", strings.Join(lines, "\n"))
	}
	curlLine := strings.TrimSpace(lines[len(lines)-1])
	if want := strings.Replace(commands[2], "127.0.0.1:8080", proxy[1], 1); curlLine != want {
		t.Errorf("the demo printed\n  %s\nthe README shows\n  %s", curlLine, commands[2])
	}

	// 3. The curl line the demo printed.
	answer := runCurlLine(t, curlLine, env)
	var a demoAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		t.Fatalf("the answer is not JSON: %v\n%s", err, answer)
	}
	if !a.Verified {
		t.Errorf("the demo upstream did not verify the signature: %s %v\n%s", a.Reason, a.Problems, answer)
	}
	authz := a.Headers["Authorization"]
	if a.Method != "POST" || a.Path != "/hello" || a.Query != "name=world" || a.Headers["X-Amz-Date"] == "" ||
		!strings.HasPrefix(authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(authz, "/us-east-1/execute-api/aws4_request") ||
		!strings.HasSuffix(authz, "Signature=<hidden>") {
		t.Errorf("the answer does not show what the README says it shows:\n%s", answer)
	}

	// 4. Ctrl-C stops the demo.
	demo.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("the demo exited with %v after Ctrl-C:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the demo did not stop on SIGINT:\n%s", stderr.String())
	}
}

// isolatedEnv is an environment with PATH and nothing of AWS, SIGV4_ or
// proxies: a HOME of its own, IMDS disabled.
func isolatedEnv(home string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=*", "no_proxy=*"}
}

// runCurlLine runs a printed curl command line with sh, as a user would
// paste it. Without curl on the machine it installs it with apt-get; only
// where that fails it sends the same request with Go's client.
func runCurlLine(t *testing.T, line string, env []string) []byte {
	t.Helper()
	if _, ok := installCurl(t); !ok {
		return sendCurlLineWithGo(t, line)
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return out
}

// installCurl returns curl's path, installing it with apt-get when it is
// missing; ok is false when it cannot be installed.
func installCurl(t *testing.T) (path string, ok bool) {
	t.Helper()
	if path, err := exec.LookPath("curl"); err == nil {
		return path, true
	}
	t.Log("curl is missing: apt-get install -y curl")
	install := exec.Command("sh", "-c", "apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq curl")
	if out, err := install.CombinedOutput(); err != nil {
		t.Logf("apt-get install curl: %v\n%s", err, out)
		return "", false
	}
	path, err := exec.LookPath("curl")
	return path, err == nil
}

// sendCurlLineWithGo sends what `curl -s 'URL' -d 'BODY'` sends: a POST of
// BODY as a form.
func sendCurlLineWithGo(t *testing.T, line string) []byte {
	t.Helper()
	m := regexp.MustCompile(`^curl -s '([^']+)' -d '([^']*)'$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot read %q without curl", line)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}
	resp, err := client.Post(m[1], "application/x-www-form-urlencoded", strings.NewReader(m[2]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
