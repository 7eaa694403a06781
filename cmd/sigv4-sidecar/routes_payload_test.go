package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// routes shows a route's content-sha256 and preserve-authorization-as, and
// explain --config signs as they say.
func TestRoutesShowPayloadRules(t *testing.T) {
	path := writeConfig(t, `
routes:
  - name: oac
    upstream: https://abcdefghij.lambda-url.us-east-1.on.aws
    content-sha256: always
    preserve-authorization-as: X-Original-Authorization
`)
	var out bytes.Buffer
	if err := runEnv(context.Background(), []string{"routes", "--config", path}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "  payload      auto, X-Amz-Content-Sha256 always\n  preserve     Authorization as X-Original-Authorization\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	got, err := runExplainArgs(t, "--example-credentials", "--date", "20150830T123600Z", "--config", path, "-d", "hello",
		"-H", "Authorization: Basic cm91dGUtdXNlcg==", "http://localhost/orders")
	if err != nil {
		t.Fatal(err)
	}
	if s := sections(got)["Signed headers"]; s != "content-length;host;x-amz-content-sha256;x-amz-date;x-original-authorization" {
		t.Errorf("explain --config signed %q:\n%s", s, got)
	}
}
