package endpoint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint/internal/tablegen"
)

type hostCase struct {
	line     int
	host     string
	expected Endpoint // Rule left empty: it is debug output, not the contract
}

// readHostCases reads testdata/hosts.txt, whose expectations were written by
// hand from the AWS documentation.
func readHostCases(t testing.TB) []hostCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hosts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []hostCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 {
			t.Fatalf("testdata/hosts.txt:%d: want 4 fields, got %d", n, len(fields))
		}
		cases = append(cases, hostCase{line: n, host: fields[0],
			expected: Endpoint{SigningName: fields[1], Region: fields[2], Partition: fields[3]}})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestResolveHosts(t *testing.T) {
	cases := readHostCases(t)
	if len(cases) < 150 {
		t.Fatalf("testdata/hosts.txt has %d hosts, the issue asks for at least 150", len(cases))
	}
	for _, c := range cases {
		got, err := Resolve(c.host)
		if err != nil {
			t.Errorf("hosts.txt:%d: Resolve(%q): %v", c.line, c.host, err)
			continue
		}
		if got.Rule == "" {
			t.Errorf("hosts.txt:%d: Resolve(%q) names no rule", c.line, c.host)
		}
		got.Rule = ""
		if got != c.expected {
			t.Errorf("hosts.txt:%d: Resolve(%q) = %+v, want %+v", c.line, c.host, got, c.expected)
		}
	}
}

// TestResolveHostsCoverEveryPartition keeps the hand-written table honest: a
// partition added to partitions.json needs hosts in testdata/hosts.txt.
func TestResolveHostsCoverEveryPartition(t *testing.T) {
	seen := map[string]int{}
	for _, c := range readHostCases(t) {
		seen[c.expected.Partition]++
	}
	for _, p := range partitions {
		if seen[p.id] == 0 {
			t.Errorf("testdata/hosts.txt has no host of partition %s", p.id)
		}
	}
}

func TestResolveUnknownHost(t *testing.T) {
	for _, host := range []string{
		"example.com",
		"amazonaws.com",
		"unknownservice.amazonaws.com",
		"us-east-1.amazonaws.com",
		"ec2-203-0-113-25.compute-1.amazonaws.com",
		"my-lb-1234567890.us-east-1.elb.amazonaws.com",
		"sqs.us-east-1.amazonaws.com.evil.example",
		"sqs.us-east-1.amazonaws.com.cn",     // a commercial region under the China suffix
		"sqs.cn-north-1.amazonaws.com",       // and the other way round
		"sqs.us-gov-west-1.c2s.ic.gov",       // GovCloud region under an ISO suffix
		"bucket.s3-accelerate.amazonaws.com", // region not in the host
		"mrap.accesspoint.s3-global.amazonaws.com",
		"localhost",
		"169.254.169.254",
		"169.254.169.254:80",
		"[fd00:ec2::254]:80",
		"",
		":443",
		"sqs.us-east-1.amazonaws.com:https",
		"sqs..us-east-1.amazonaws.com",
		"sqs.us-east-1.amazonaws.com/path",
		"sqs us-east-1.amazonaws.com",
		"-sqs.us-east-1.amazonaws.com",
		"sqs-.us-east-1.amazonaws.com",
		"-fips.us-east-1.amazonaws.com", // found by FuzzResolve: an empty service name
		"sqs.us-east-1.amazonaws.com-",
		"user@sqs.us-east-1.amazonaws.com",
		strings.Repeat("a", 64) + ".us-east-1.amazonaws.com",
	} {
		got, err := Resolve(host)
		var unknown *UnknownHostError
		if !errors.As(err, &unknown) {
			t.Errorf("Resolve(%q) = %+v, %v; want an *UnknownHostError", host, got, err)
			continue
		}
		if got != (Endpoint{}) {
			t.Errorf("Resolve(%q) returned %+v with its error", host, got)
		}
		if unknown.Host != host {
			t.Errorf("Resolve(%q): error names host %q", host, unknown.Host)
		}
		msg := err.Error()
		for _, want := range []string{`"` + host + `"`, "--service", "--region"} {
			if !strings.Contains(msg, want) {
				t.Errorf("Resolve(%q): error %q does not contain %q", host, msg, want)
			}
		}
	}
}

func TestUnknownHostErrorMessage(t *testing.T) {
	_, err := Resolve("api.example.com:8443")
	const want = `cannot derive the AWS service and region from host "api.example.com:8443" (no endpoint rule matches it): set --service and --region`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant   %s", err, want)
	}
	_, err = Resolve("bad host")
	const wantBad = `cannot derive the AWS service and region from host "bad host" (character ' ' is not allowed in a host name): set --service and --region`
	if err == nil || err.Error() != wantBad {
		t.Fatalf("error = %v\nwant   %s", err, wantBad)
	}
}

// TestGeneratedTableUpToDate regenerates table_gen.go from data/ and compares
// it with the committed file. Run `go generate ./endpoint/` to fix.
func TestGeneratedTableUpToDate(t *testing.T) {
	want, err := tablegen.Generate("data")
	if err != nil {
		t.Fatal(err)
	}
	regenerated := filepath.Join(t.TempDir(), "table_gen.go")
	if err := os.WriteFile(regenerated, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("table_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("table_gen.go is stale (first difference at line %d:\n committed:   %q\n regenerated: %q); run go generate ./endpoint/ (regenerated copy: %s)", i+1, gl[i], wl[i], regenerated)
			}
		}
		t.Fatalf("table_gen.go is stale (%d lines committed, %d regenerated); run go generate ./endpoint/", len(gl), len(wl))
	}
}

// TestGenerateIsDeterministic: two runs over the same data give the same
// bytes, whatever order Go's maps iterate in.
func TestGenerateIsDeterministic(t *testing.T) {
	a, err := tablegen.Generate("data")
	if err != nil {
		t.Fatal(err)
	}
	b, err := tablegen.Generate("data")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two Generate runs over the same data differ")
	}
}

// TestSigningNamesThatDiffer resolves, for every service model in
// signing-names.json whose signing name differs from its endpoint prefix,
// <prefix>.us-east-1.amazonaws.com (and for bedrock-runtime, the issue's
// example, every region the data lists).
func TestSigningNamesThatDiffer(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("data", tablegen.SigningNamesFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services []struct {
			EndpointPrefix, SigningName string
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	models, prefixes := 0, map[string]bool{}
	for _, s := range doc.Services {
		if s.SigningName == s.EndpointPrefix {
			continue
		}
		models++
		prefixes[s.EndpointPrefix] = true
		host := s.EndpointPrefix + ".us-east-1.amazonaws.com"
		got, err := Resolve(host)
		if err != nil {
			t.Errorf("Resolve(%q): %v", host, err)
			continue
		}
		if got.SigningName != s.SigningName || got.Region != "us-east-1" {
			t.Errorf("Resolve(%q) = %+v, want signing name %s in us-east-1", host, got, s.SigningName)
		}
	}
	t.Logf("%d service models (%d distinct endpoint prefixes) sign with a name other than their endpoint prefix", models, len(prefixes))
	if models == 0 {
		t.Fatal("signing-names.json lists no differing signing names")
	}
}

// TestEveryTableHostResolvesToItself: the rules never shadow the table, and
// every table host is inside the default allow list.
func TestEveryTableHostIsAllowedAndResolves(t *testing.T) {
	allow := DefaultAllowHosts()
	n := 0
	for line := range strings.Lines(hostTable) {
		f := strings.Fields(line)
		if len(f) != 5 {
			continue
		}
		n++
		got, err := Resolve(f[0])
		if err != nil || got.SigningName != f[1] || got.Region != f[2] || got.Partition != f[3] || got.Rule != f[4] {
			t.Errorf("Resolve(%q) = %+v, %v; want the table row %q", f[0], got, err, strings.TrimSpace(line))
		}
		if !allowed(allow, f[0]) {
			t.Errorf("table host %q matches no DefaultAllowHosts pattern %v", f[0], allow)
		}
	}
	if n < 1000 {
		t.Fatalf("hostTable has %d rows; the generator lost endpoints", n)
	}
	for _, c := range readHostCases(t) {
		h, _ := normalizeHost(c.host)
		if !allowed(allow, h) {
			t.Errorf("hosts.txt:%d: %q matches no DefaultAllowHosts pattern", c.line, c.host)
		}
	}
}

func allowed(patterns []string, host string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, host); ok {
			return true
		}
	}
	return false
}

func TestDefaultAllowHosts(t *testing.T) {
	got := DefaultAllowHosts()
	for _, want := range []string{"*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws", "*.on.aws", "*.c2s.ic.gov", "*.amazonaws.eu"} {
		if !slices.Contains(got, want) {
			t.Errorf("DefaultAllowHosts() = %v, missing %s", got, want)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("DefaultAllowHosts() = %v, want sorted without duplicates", got)
	}
	got[0] = "mutated"
	if DefaultAllowHosts()[0] == "mutated" {
		t.Error("DefaultAllowHosts returns a shared slice")
	}
}

// TestResolveIsDeterministicAcrossGoroutines resolves every test host from
// several goroutines at once (first use included, under -race) and compares.
func TestResolveIsDeterministicAcrossGoroutines(t *testing.T) {
	cases := readHostCases(t)
	want := make([]Endpoint, len(cases))
	for i, c := range cases {
		want[i], _ = Resolve(c.host)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, c := range cases {
				if got, _ := Resolve(c.host); got != want[i] {
					t.Errorf("Resolve(%q) = %+v, earlier %+v", c.host, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func FuzzResolve(f *testing.F) {
	for _, c := range readHostCases(f) {
		f.Add(c.host)
	}
	for _, s := range []string{"", ":", "[::1]:443", "a.b", "s3-.amazonaws.com", "vpce-.vpce.amazonaws.com",
		"x.us-east-1.vpce.amazonaws.com", "dualstack.us-east-1.amazonaws.com", "-.us-east-1.on.aws",
		"a.mrap.accesspoint.s3-global.amazonaws.com", "a.b.endpoint.events.api.aws", "1.cloudfront-kvs.global.api.aws"} {
		f.Add(s)
	}
	regionREs := map[string]*regexp.Regexp{}
	for _, p := range partitions {
		regionREs[p.id] = regexp.MustCompile(p.regionRegex)
	}
	f.Fuzz(func(t *testing.T, host string) {
		got, err := Resolve(host)
		again, err2 := Resolve(host)
		if got != again || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Resolve(%q) not deterministic: %+v, %v then %+v, %v", host, got, err, again, err2)
		}
		if err != nil {
			var unknown *UnknownHostError
			if !errors.As(err, &unknown) || unknown.Host != host || got != (Endpoint{}) {
				t.Fatalf("Resolve(%q) = %+v, %v; want a zero Endpoint and *UnknownHostError", host, got, err)
			}
			return
		}
		if got.SigningName == "" || got.Region == "" && got.RegionSet == "" || got.Rule == "" {
			t.Fatalf("Resolve(%q) = %+v: empty field", host, got)
		}
		if got.RegionSet != "" {
			// A SigV4a host names no region (sigv4a.go).
			if got.Region != "" {
				t.Fatalf("Resolve(%q) = %+v: a region set and a region", host, got)
			}
			return
		}
		re, ok := regionREs[got.Partition]
		if !ok {
			t.Fatalf("Resolve(%q) = %+v: unknown partition", host, got)
		}
		// Every signing region is a region of its partition: listed there or
		// shaped like one.
		p := partitions[slices.IndexFunc(partitions, func(p partition) bool { return p.id == got.Partition })]
		if !slices.Contains(p.regions, got.Region) && !re.MatchString(got.Region) {
			t.Fatalf("Resolve(%q) = %+v: region is not of partition %s", host, got, got.Partition)
		}
	})
}

func BenchmarkResolve(b *testing.B) {
	for _, bc := range []struct{ name, host string }{
		{"table", "bedrock-runtime.us-east-1.amazonaws.com"},
		{"rule", "my.bucket.s3.dualstack.eu-west-1.amazonaws.com:443"},
		{"vpce", "vpce-0123456789abcdef0-abcdefgh.api.ecr.eu-west-1.vpce.amazonaws.com"},
		{"unknown", "api.example.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			Resolve(bc.host) // parse the table outside the timed loop
			b.ReportAllocs()
			for b.Loop() {
				Resolve(bc.host)
			}
		})
	}
}

// TestKnownNamesAndRegions: what the table and the rules sign with is
// known; what a client can put in a host's labels is not.
func TestKnownNamesAndRegions(t *testing.T) {
	for _, host := range []string{"sqs.us-east-1.amazonaws.com", "bucket.s3.eu-west-1.amazonaws.com", "abc.execute-api.ap-south-1.amazonaws.com",
		"bedrock-runtime.us-west-2.amazonaws.com", "iam.amazonaws.com", "x.lambda-url.us-east-1.on.aws"} {
		e, err := Resolve(host)
		if err != nil {
			t.Fatal(err)
		}
		if !IsSigningName(e.SigningName) || !IsRegion(e.Region) {
			t.Errorf("%s: %s %s not known", host, e.SigningName, e.Region)
		}
	}
	for _, host := range []string{"attacker-chosen-7.us-east-1.amazonaws.com", "sqs.us-east-98765.amazonaws.com"} {
		e, err := Resolve(host)
		if err != nil {
			t.Fatal(err)
		}
		if IsSigningName(e.SigningName) && IsRegion(e.Region) {
			t.Errorf("%s: %s %s both known", host, e.SigningName, e.Region)
		}
	}
}
