package chartstest

import (
	"os"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestAppVersionIsChangelogVersion: the chart's appVersion (the image tag it
// deploys by default) is the latest version CHANGELOG.md names, so a release
// cannot move one without the other (docs/releasing.md, step 1).
func TestAppVersionIsChangelogVersion(t *testing.T) {
	raw, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil {
		t.Fatal(err)
	}
	changelog, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	// The first "## [X.Y.Z]" heading; "## [Unreleased]" does not match.
	m := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+[^\]]*)\]`).FindSubmatch(changelog)
	if m == nil {
		t.Fatal("CHANGELOG.md names no version (## [X.Y.Z] - date)")
	}
	if latest := string(m[1]); chart.AppVersion != latest {
		t.Errorf("Chart.yaml appVersion %q, CHANGELOG.md's latest version %q", chart.AppVersion, latest)
	}
}
