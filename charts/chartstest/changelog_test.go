package chartstest

import (
	"os"
	"regexp"
	"testing"
)

// TestAppVersionIsChangelogVersion: the chart's appVersion (the image tag it
// deploys by default) is the latest version CHANGELOG.md names, so a release
// cannot move one without the other (docs/releasing.md, step 1).
func TestAppVersionIsChangelogVersion(t *testing.T) {
	appVersion := chartAppVersion(t)
	changelog, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	// The first "## [X.Y.Z]" heading; "## [Unreleased]" does not match.
	m := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+[^\]]*)\]`).FindSubmatch(changelog)
	if m == nil {
		t.Fatal("CHANGELOG.md names no version (## [X.Y.Z] - date)")
	}
	if latest := string(m[1]); appVersion != latest {
		t.Errorf("Chart.yaml appVersion %q, CHANGELOG.md's latest version %q", appVersion, latest)
	}
}
