package route

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
)

// knownOptions stands for the proxy's option names.
func knownOptions(name string) bool {
	switch name {
	case "listen", "log-level", "allow-hosts", "region", "payload":
		return true
	}
	return false
}

// checkPayload stands for the proxy's check of the fields it shares with
// the command line: here only payload.
func checkPayload(r *Route) error {
	switch r.Payload {
	case "", "auto", "signed", "unsigned", "chunked":
		return nil
	}
	return &FieldError{Field: "payload", Value: r.Payload, Problem: "must be auto, signed, unsigned or chunked"}
}

func load(t *testing.T, path string) (*File, *Set, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(filepath.Base(path), data, knownOptions)
	if err != nil {
		return nil, nil, err
	}
	set, err := Compile(f, checkPayload)
	return f, set, err
}

// TestRefusedFiles reads every file in testdata/refused, whose first line
// says the error it must be refused with (file, line, route, field and
// problem), as "# want: TEXT".
func TestRefusedFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/refused/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line %q does not say what is wanted", first)
			}
			_, _, err = load(t, path)
			if err == nil {
				t.Fatalf("accepted; want %q", want)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v, want a *route.Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error\n  %s\nwant it to start\n  %s", err, want)
			}
		})
	}
}

func TestGoodFile(t *testing.T) {
	f, set, err := load(t, "testdata/good/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantOptions := []Option{
		{Name: "listen", Values: []string{"0.0.0.0:8080"}, Line: 2},
		{Name: "log-level", Values: []string{"debug"}, Line: 3},
		{Name: "allow-hosts", Values: []string{"*.amazonaws.com", "10.0.0.0/8"}, List: true, Line: 4},
	}
	if !reflect.DeepEqual(f.Options, wantOptions) {
		t.Errorf("options %+v, want %+v", f.Options, wantOptions)
	}
	var names []string
	for _, r := range set.Routes() {
		names = append(names, r.Name)
	}
	if want := []string{"team-a", "team-b", "internal.api_1", "rest"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("routes %v, want %v", names, want)
	}
	a, b, api, rest := set.Routes()[0], set.Routes()[1], set.Routes()[2], set.Routes()[3]
	if a.Upstream != "https://s3.eu-west-1.amazonaws.com" || a.Payload != "signed" || a.PathPrefix != "/team-a" || a.Line != 9 {
		t.Errorf("team-a: %+v", a)
	}
	wantHeaders := []Header{{"X-Amz-Acl", "bucket-owner-full-control"}, {"X-Team", "a"}}
	if !reflect.DeepEqual(a.AddHeaders, wantHeaders) {
		t.Errorf("team-a add-headers %v, want %v", a.AddHeaders, wantHeaders)
	}
	wantCreds := &Credentials{RoleARN: "arn:aws:iam::123456789012:role/team-a", ExternalID: "team-a-external", SessionName: "gateway-team-a", Duration: 30 * time.Minute}
	if !reflect.DeepEqual(a.Credentials, wantCreds) {
		t.Errorf("team-a credentials %+v, want %+v", a.Credentials, wantCreds)
	}
	if b.StripHeaders == nil || len(b.StripHeaders) != 0 {
		t.Errorf("team-b strip-headers %#v: an explicit empty list must stay set (it clears the top-level one)", b.StripHeaders)
	}
	if b.Credentials == nil || b.Credentials.Profile != "team-b" {
		t.Errorf("team-b credentials %+v", b.Credentials)
	}
	if api.Credentials == nil || *api.Credentials != (Credentials{}) {
		t.Errorf("internal.api_1 credentials %+v, want the default chain (an empty block)", api.Credentials)
	}
	if rest.Credentials != nil || rest.StripHeaders != nil {
		t.Errorf("rest: %+v, want every field left to the top-level options", rest)
	}
}

func TestPick(t *testing.T) {
	_, set, err := load(t, "testdata/good/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const (
		teamA = "spiffe://cluster.local/ns/team-a/sa/uploader"
		teamB = "spiffe://cluster.local/ns/team-b/sa/app"
	)
	for _, tc := range []struct {
		host, path, client string
		want               string // route name, or the error type
	}{
		{"s3.eu-west-1.amazonaws.com", "/team-a/key", teamA, "team-a"},
		{"S3.EU-WEST-1.AMAZONAWS.COM:443", "/team-a", teamA, "team-a"},
		{"bucket.s3.eu-west-1.amazonaws.com", "/team-a/", teamA, "team-a"},
		// First match wins: team-b's route takes the same host, but
		// team-a's comes first for team-a's client.
		{"s3.eu-west-1.amazonaws.com", "/team-b/key", teamB, "team-b"},
		// Segment by segment: /team-ab is not under /team-a, so team-a's
		// client finds no route of its own for that host there; the
		// catch-all "rest" takes it.
		{"s3.eu-west-1.amazonaws.com", "/team-ab/key", teamA, "rest"},
		// A dot segment or an encoded slash never matches a path prefix.
		{"s3.eu-west-1.amazonaws.com", "/team-a/../team-b/key", teamA, "rest"},
		{"s3.eu-west-1.amazonaws.com", "/team-a/%2E%2E/team-b", teamA, "rest"},
		{"s3.eu-west-1.amazonaws.com", "/team-a%2Fx", teamA, "rest"},
		{"10.1.2.3", "/", "", "internal.api_1"},
		{"10.1.2.3:8443", "/", "", "internal.api_1"},
		{"api.internal", "/v1", "", "internal.api_1"},
		{"10.2.0.1", "/", "", "rest"},
	} {
		r, err := set.Pick(tc.host, tc.path, tc.client)
		if err != nil {
			t.Errorf("Pick(%q, %q, %q): %v, want route %s", tc.host, tc.path, tc.client, err, tc.want)
			continue
		}
		if r.Name != tc.want {
			t.Errorf("Pick(%q, %q, %q) = %s, want %s", tc.host, tc.path, tc.client, r.Name, tc.want)
		}
	}
}

func TestPickRefusals(t *testing.T) {
	data := []byte(`
routes:
  - name: team-a
    match: {hosts: ["s3.eu-west-1.amazonaws.com"], clients: ["spiffe://cluster.local/ns/team-a/*"]}
  - name: sqs
    match: {hosts: ["sqs.*.amazonaws.com"]}
`)
	f, err := Parse("gw.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Compile(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Pick("dynamodb.eu-west-1.amazonaws.com", "/x", "spiffe://cluster.local/ns/team-a/app")
	var noRoute *NoRouteError
	if !errors.As(err, &noRoute) || noRoute.Host != "dynamodb.eu-west-1.amazonaws.com" || noRoute.Path != "/x" {
		t.Errorf("no route's host: %v, want a *NoRouteError naming host and path", err)
	}
	if err != nil && (!strings.Contains(err.Error(), "dynamodb.eu-west-1.amazonaws.com") || !strings.Contains(err.Error(), `"/x"`)) {
		t.Errorf("message %q does not name the host and the path", err)
	}
	_, err = set.Pick("s3.eu-west-1.amazonaws.com", "/b", "spiffe://cluster.local/ns/team-b/app")
	var notAllowed *ClientNotAllowedError
	if !errors.As(err, &notAllowed) || notAllowed.Client != "spiffe://cluster.local/ns/team-b/app" {
		t.Errorf("another team's client: %v, want a *ClientNotAllowedError", err)
	}
	_, err = set.Pick("s3.eu-west-1.amazonaws.com", "/b", "")
	var unauthenticated *ClientUnauthenticatedError
	if !errors.As(err, &unauthenticated) {
		t.Errorf("no client: %v, want a *ClientUnauthenticatedError", err)
	}
	// '*' does not cross '/': a deeper identity is not team-a's.
	if _, err := set.Pick("s3.eu-west-1.amazonaws.com", "/b", "spiffe://cluster.local/ns/team-a/sa/x"); !errors.As(err, &notAllowed) {
		t.Errorf("identity below the glob's segment: %v, want refused", err)
	}
	if r, err := set.Pick("sqs.eu-west-1.amazonaws.com", "/", ""); err != nil || r.Name != "sqs" {
		t.Errorf("route without clients: %v %v, want sqs for anyone", r, err)
	}
}

func TestNoRoutesIsTheDefaultRoute(t *testing.T) {
	for _, content := range []string{"", "# nothing yet\n", "listen: 127.0.0.1:9000\n", "routes: []\n", "routes:\n"} {
		f, err := Parse("gw.yaml", []byte(content), knownOptions)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		set, err := Compile(f, checkPayload)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		r, err := set.Pick("anything.example.com", "/any", "")
		if err != nil || r.Name != DefaultName || r.Credentials != nil || r.Upstream != "" {
			t.Errorf("%q: Pick = %+v, %v; want the default route, every field the top-level options'", content, r, err)
		}
	}
}

func TestCredentialsConfig(t *testing.T) {
	base := creds.Config{Profile: "top", RoleARN: "arn:aws:iam::123456789012:role/top", RoleDuration: time.Hour, STSRegion: "eu-west-1", STSEndpoint: "http://127.0.0.1:9"}
	c := &Credentials{CredentialsFile: "/keys", RoleARN: "arn:aws:iam::123456789012:role/a", SessionName: "s"}
	got := c.Config(base)
	want := creds.Config{CredentialsFile: "/keys", RoleARN: "arn:aws:iam::123456789012:role/a", RoleSessionName: "s", RoleDuration: time.Hour, STSRegion: "eu-west-1", STSEndpoint: "http://127.0.0.1:9"}
	if got != want {
		t.Errorf("Config = %+v, want %+v (route fields, STS settings and duration from the top level, never its profile or role)", got, want)
	}
	c.Duration = 20 * time.Minute
	if got := c.Config(base).RoleDuration; got != 20*time.Minute {
		t.Errorf("route duration: %s", got)
	}
	if s := (&Credentials{Profile: "p", RoleARN: "arn:aws:iam::123456789012:role/a"}).String(); s != "profile p, then role arn:aws:iam::123456789012:role/a" {
		t.Errorf("String = %q", s)
	}
	if s := (&Credentials{}).String(); s != "default chain" {
		t.Errorf("String = %q", s)
	}
}

// TestErrorsKeepExternalIDOut: an external id is a shared secret between
// the role's owner and its user; a refusal says what is wrong with it
// without quoting it.
func TestErrorsKeepExternalIDOut(t *testing.T) {
	data := []byte("routes:\n  - name: a\n    credentials:\n      role-arn: arn:aws:iam::123456789012:role/a\n      external-id: \"secret value!\"\n")
	f, err := Parse("gw.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(f, nil)
	if err == nil || strings.Contains(err.Error(), "secret value") {
		t.Errorf("error %v: want a refusal that does not quote the external id", err)
	}
}
