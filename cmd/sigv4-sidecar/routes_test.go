package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const gatewayYAML = `
region: eu-west-1
routes:
  - name: team-a
    match:
      hosts: ["s3.eu-west-1.amazonaws.com"]
      path: /team-a
      clients: ["spiffe://cluster.local/ns/team-a/*"]
    payload: signed
    add-headers: {x-amz-acl: bucket-owner-full-control}
    credentials: {profile: team-a, role-arn: "arn:aws:iam::123456789012:role/team-a"}
  - name: queues
    match: {hosts: ["*.example.com"]}
    upstream: https://sqs.eu-west-1.amazonaws.com
    credentials: {credentials-file: /var/run/keys/queues}
`

// writeGateway writes gatewayYAML with a client tokens file: a route's
// match.clients needs the listener to authenticate clients.
func writeGateway(t *testing.T) string {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("app-a 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, gatewayYAML+"client-tokens-file: "+tokens+"\n")
}

func TestRoutesCommandLists(t *testing.T) {
	path := writeGateway(t)
	var out bytes.Buffer
	if err := runEnv(context.Background(), []string{"routes", "--config", path}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2 routes, tried in this order",
		"team-a\n  match        hosts s3.eu-west-1.amazonaws.com, path /team-a, clients spiffe://cluster.local/ns/team-a/*\n",
		"  payload      signed\n  credentials  profile team-a, then role arn:aws:iam::123456789012:role/team-a\n  add-header   X-Amz-Acl: bucket-owner-full-control\n",
		"queues\n  match        hosts *.example.com, path any, clients any\n  upstream     https://sqs.eu-west-1.amazonaws.com\n",
		"  credentials  credentials-file /var/run/keys/queues\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runEnv(context.Background(), []string{"routes"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "no config file: the options make the one route") || !strings.Contains(out.String(), "\ndefault\n") {
		t.Errorf("without a file:\n%s", out.String())
	}
}

func TestRoutesCommandPicks(t *testing.T) {
	path := writeGateway(t)
	var out bytes.Buffer
	err := runEnv(context.Background(), []string{"routes", "http://s3.eu-west-1.amazonaws.com/team-a/k", "--config", path, "--client", "spiffe://cluster.local/ns/team-a/app"}, nil, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := "route        team-a (" + path + " line 4)\n" +
		"upstream     s3.eu-west-1.amazonaws.com (host mode: the request's own host)\n" +
		"service      s3\nregion       eu-west-1\npayload      signed\n" +
		"credentials  profile team-a, then role arn:aws:iam::123456789012:role/team-a\n" +
		"add-header   X-Amz-Acl: bucket-owner-full-control\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	if err := runEnv(context.Background(), []string{"routes", "--config=" + path, "http://api.example.com/"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "route        queues") || !strings.Contains(out.String(), "service      sqs\n") || !strings.Contains(out.String(), "credentials  credentials-file /var/run/keys/queues\n") {
		t.Errorf("fixed route:\n%s", out.String())
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"http://s3.eu-west-1.amazonaws.com/team-a/k"}, `routed for authenticated clients only`},
		{[]string{"http://s3.eu-west-1.amazonaws.com/team-a/k", "--client", "spiffe://cluster.local/ns/team-b/app"}, `client "spiffe://cluster.local/ns/team-b/app" may not use the routes`},
		{[]string{"http://dynamodb.eu-west-1.amazonaws.com/"}, `no route takes host "dynamodb.eu-west-1.amazonaws.com" path "/"`},
	} {
		err := runEnv(context.Background(), append([]string{"routes", "--config", path}, tc.args...), nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// routedConfig writes a config file with two routes, each with its own
// credentials file (keys keyA and keyB), and the STS endpoint sts.
func routedConfig(t *testing.T, sts string) string {
	t.Helper()
	dir := t.TempDir()
	keysFile := func(name, id, secret string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("[default]\naws_access_key_id = "+id+"\naws_secret_access_key = "+secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return writeConfig(t, `region: eu-west-1
sts-endpoint: `+sts+`
sts-region: us-east-1
credentials-file: `+filepath.Join(dir, "absent")+`
routes:
  - name: team-a
    match: {path: /team-a}
    upstream: https://reports.s3.eu-west-1.amazonaws.com
    add-headers: {x-amz-acl: bucket-owner-full-control}
    credentials: {credentials-file: `+keysFile("a", stubAccessKey, stubSecret)+`}
  - name: queues
    match: {hosts: ["sqs.*.amazonaws.com"]}
    credentials: {credentials-file: `+keysFile("b", "AKIDROUTEQUEUES00001", "queues-secret")+`}
`)
}

// TestExplainTakesARoute: explain --config signs as the route a request
// to the URL takes (its upstream, add-headers, scope and credentials), or
// as --route's; a credential flag next to a route, an unknown route and a
// URL no route takes are refused, naming what was wrong.
func TestExplainTakesARoute(t *testing.T) {
	path := routedConfig(t, "http://127.0.0.1:9")
	out, err := runExplainArgs(t, "--config", path, "--date", "20261122T140000Z", "http://gateway.local/team-a/k.csv")
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	s := sections(out)
	for _, want := range []string{
		"Route:       team-a (" + path + " line 6)\n",
		"Request:     GET https://reports.s3.eu-west-1.amazonaws.com/team-a/k.csv\n",
		"access key id " + stubAccessKey,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if s["Scope"] != "20261122/eu-west-1/s3/aws4_request" || !strings.Contains(s["Signed headers"], "x-amz-acl") ||
		!strings.Contains(s["Headers sent"], "X-Amz-Acl: bucket-owner-full-control") {
		t.Errorf("team-a: scope %q, signed headers %q, sent:\n%s", s["Scope"], s["Signed headers"], s["Headers sent"])
	}

	out, err = runExplainArgs(t, "--config", path, "--route", "queues", "--date", "20261122T140000Z", "https://sqs.eu-west-1.amazonaws.com/")
	if err != nil {
		t.Fatalf("explain --route queues: %v\n%s", err, out)
	}
	if s := sections(out); !strings.Contains(out, "access key id AKIDROUTEQUEUES00001") || s["Scope"] != "20261122/eu-west-1/sqs/aws4_request" {
		t.Errorf("queues: scope %q:\n%s", s["Scope"], out)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", path, "--route", "team-a", "--profile", "other", "http://gateway.local/team-a/k"}, 2, "--profile: a route signs with its own credentials"},
		{[]string{"--config", path, "--route", "team-z", "http://gateway.local/team-a/k"}, 2, `no route named "team-z" in ` + path + `: its routes are team-a, queues`},
		{[]string{"--config", path, "http://gateway.local/elsewhere"}, 1, `no route takes host "gateway.local" path "/elsewhere"`},
		{[]string{"--route", "team-a", "http://gateway.local/team-a/k"}, 2, "--route names a route of a config file: give --config FILE"},
	} {
		out, err := runExplainArgs(t, tc.args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != tc.code || !strings.Contains(ee.msg, tc.want) {
			t.Errorf("explain %v: %v\n%s\nwant exit %d with %q", tc.args, err, out, tc.code, tc.want)
		}
	}
}

// TestCheckTakesARoute: check --config --route proves the route's own
// credentials against STS and reports the scope of its upstream.
func TestCheckTakesARoute(t *testing.T) {
	srv, seen := stsStub(t, stubSecret, 0)
	path := routedConfig(t, srv.URL)
	out, err := runCheckArgs(t, "--config", path, "--route", "team-a")
	if err != nil {
		t.Fatalf("check failed: %v\n%s\nverifier: %v", err, out, seen.get())
	}
	for _, want := range []string{
		"route:       team-a (" + path + " line 6)\n",
		"endpoint:    reports.s3.eu-west-1.amazonaws.com signs as service s3, region eu-west-1",
		"credentials: credentials-file",
		"identity:    " + stubARN,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The other route's keys are not the STS stub's: check fails for it.
	out, err = runCheckArgs(t, "--config", path, "--endpoint", "https://sqs.eu-west-1.amazonaws.com/")
	if err == nil || !strings.Contains(out, "route:       queues") || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Errorf("check of route queues: %v\n%s; want it to take queues' keys and fail", err, out)
	}
}
