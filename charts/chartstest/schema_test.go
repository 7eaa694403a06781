package chartstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// TestSchemaRegionIsTheSignersRule: the chart's schema refused config.region values the binary takes
// (foo_bar, names with '.' or upper case) because it kept its own copy of a stricter rule. Its pattern
// must agree with signer.IsScopeName, the one rule the binary checks --region with.
func TestSchemaRegionIsTheSignersRule(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Config struct {
				Properties struct {
					Region struct{ Pattern string } `json:"region"`
				} `json:"properties"`
			} `json:"config"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	pattern := regexp.MustCompile(schema.Properties.Config.Properties.Region.Pattern)
	if !pattern.MatchString("") {
		t.Errorf("the schema's config.region pattern %q refuses the empty value (derive the region from the host)", pattern)
	}
	for _, region := range []string{"us-east-1", "us-gov-west-1", "eusc-de-east-1", "foo_bar", "minio.local", "US-EAST-1",
		"us east", "us/east-1", "a\tb", "a\nb", "us-éast", "a,b"} {
		if got, want := pattern.MatchString(region), signer.IsScopeName(region); got != want {
			t.Errorf("config.region %q: the schema's pattern %q matches %v, signer.IsScopeName says %v", region, pattern, got, want)
		}
	}
}
