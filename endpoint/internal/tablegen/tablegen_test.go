package tablegen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tiny partition with one of each shape Generate must handle.
const testEndpoints = `{"version": 3, "partitions": [{
  "partition": "aws", "dnsSuffix": "amazonaws.com", "regionRegex": "^(us|eu)\\-\\w+\\-\\d+$",
  "regions": {"us-east-1": {}, "eu-west-1": {}},
  "defaults": {"hostname": "{service}.{region}.{dnsSuffix}", "variants": [
    {"dnsSuffix": "amazonaws.com", "hostname": "{service}-fips.{region}.{dnsSuffix}", "tags": ["fips"]},
    {"dnsSuffix": "api.aws", "hostname": "{service}.{region}.{dnsSuffix}", "tags": ["dualstack"]}]},
  "services": {
    "plain": {"endpoints": {"us-east-1": {"variants": [{"tags": ["fips"]}, {"hostname": "plain.us-east-1.api.aws", "tags": ["dualstack"]}]},
                            "fips-us-east-1": {"deprecated": true},
                            "eu-west-1": {}}},
    "global": {"isRegionalized": false, "partitionEndpoint": "aws-global", "endpoints": {
      "aws-global": {"hostname": "global.amazonaws.com", "credentialScope": {"region": "us-east-1"}}}},
    "scoped": {"defaults": {"credentialScope": {"service": "scopedsign"}}, "endpoints": {"us-east-1": {}}},
    "override": {"endpoints": {"us-east-1": {"credentialScope": {"service": "other", "region": "eu-west-1"}}}},
    "odd.prefix": {"endpoints": {"us-east-1": {}}},
    "alias": {"endpoints": {"us-east-1": {"hostname": "plain.us-east-1.amazonaws.com"},
                            "eu-west-1": {"hostname": "odd.prefix.eu-west-1.amazonaws.com"}}},
    "deprecatedkey": {"endpoints": {"us-east-1-fips": {"deprecated": true, "hostname": "deprecatedkey-fips.us-east-1.amazonaws.com"}}},
    "local": {"endpoints": {"local": {"hostname": "localhost:8000", "credentialScope": {"region": "us-east-1"}}}},
    "transcribestreaming": {"endpoints": {"us-east-1": {}}}
  }}]}`

const testPartitions = `{"version": "1.1", "partitions": [{"id": "aws",
  "outputs": {"dnsSuffix": "amazonaws.com", "dualStackDnsSuffix": "api.aws", "implicitGlobalRegion": "us-east-1"},
  "regionRegex": "^(us|eu)\\-\\w+\\-\\d+$", "regions": {"us-east-1": {}, "eu-west-1": {}, "aws-global": {}}}]}`

const testSigningNames = `{"services": [
  {"endpointPrefix": "plain", "signingName": "plain"},
  {"endpointPrefix": "odd.prefix", "signingName": "oddsign"},
  {"endpointPrefix": "global", "signingName": "global"}]}`

func generateRows(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{EndpointsFile: testEndpoints, PartitionsFile: testPartitions, SigningNamesFile: testSigningNames} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(src), "const hostTable = `\n")
	if !ok {
		t.Fatalf("no hostTable in:\n%s", src)
	}
	table, _, _ = strings.Cut(table, "`")
	rows := map[string]string{}
	for line := range strings.Lines(table) {
		host, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if _, dup := rows[host]; dup {
			t.Errorf("host %s listed twice", host)
		}
		rows[host] = rest
	}
	return rows
}

func TestGenerateRows(t *testing.T) {
	rows := generateRows(t)
	want := map[string]string{
		// Template host, partition-default fips template, explicit dualstack host.
		"plain.us-east-1.amazonaws.com":      "plain us-east-1 aws botocore:plain/us-east-1",
		"plain-fips.us-east-1.amazonaws.com": "plain us-east-1 aws botocore:plain/us-east-1+fips",
		"plain.us-east-1.api.aws":            "plain us-east-1 aws botocore:plain/us-east-1+dualstack",
		"plain.eu-west-1.amazonaws.com":      "plain eu-west-1 aws botocore:plain/eu-west-1",
		// A global endpoint signs with its credentialScope region.
		"global.amazonaws.com": "global us-east-1 aws botocore:global/aws-global",
		// Service-wide and per-endpoint credentialScope overrides.
		"scoped.us-east-1.amazonaws.com":   "scopedsign us-east-1 aws botocore:scoped/us-east-1",
		"override.us-east-1.amazonaws.com": "other eu-west-1 aws botocore:override/us-east-1",
		// signing-names.json maps a multi-label prefix.
		"odd.prefix.us-east-1.amazonaws.com": "oddsign us-east-1 aws botocore:odd.prefix/us-east-1",
		// alias is no model: its host belongs to the model it is named after.
		"odd.prefix.eu-west-1.amazonaws.com": "oddsign eu-west-1 aws botocore:alias/eu-west-1",
		// A deprecated fips key without a credentialScope signs for the
		// region inside the key.
		"deprecatedkey-fips.us-east-1.amazonaws.com": "deprecatedkey us-east-1 aws botocore:deprecatedkey/us-east-1-fips",
		// No botocore model: the hand-written list.
		"transcribestreaming.us-east-1.amazonaws.com": "transcribe us-east-1 aws botocore:transcribestreaming/us-east-1",
	}
	for host, w := range want {
		if got := rows[host]; got != w {
			t.Errorf("%s: got %q, want %q", host, got, w)
		}
	}
	for _, absent := range []string{
		"plain.fips-us-east-1.amazonaws.com", // template filled with a non-region key
		"localhost:8000",                     // outside the partition's suffixes
	} {
		if got, ok := rows[absent]; ok {
			t.Errorf("%s listed as %q, want it left out", absent, got)
		}
	}
	if len(rows) != len(want) {
		t.Errorf("got %d rows, want %d: %v", len(rows), len(want), rows)
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"missing file": {EndpointsFile: testEndpoints, PartitionsFile: testPartitions},
		"bad json":     {EndpointsFile: "{", PartitionsFile: testPartitions, SigningNamesFile: testSigningNames},
		"no partitions": {EndpointsFile: `{"partitions": []}`, PartitionsFile: testPartitions,
			SigningNamesFile: testSigningNames},
		"bad region regex": {EndpointsFile: testEndpoints, SigningNamesFile: testSigningNames,
			PartitionsFile: `{"partitions": [{"id": "aws", "regionRegex": "(", "outputs": {"dnsSuffix": "amazonaws.com"}}]}`},
		"conflicting signing names": {EndpointsFile: testEndpoints, PartitionsFile: testPartitions,
			SigningNamesFile: `{"services": [{"endpointPrefix": "x", "signingName": "a"}, {"endpointPrefix": "x", "signingName": "b"}]}`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, body := range files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Generate(dir); err == nil {
				t.Fatal("Generate succeeded, want an error")
			}
		})
	}
}
