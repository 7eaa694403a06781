package main

import (
	"bytes"
	"context"
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
