// Package credstest keeps the AWS SDK away from the machine a test runs on:
// no developer keys, profiles, web identity, container endpoint or instance
// metadata; and gives it loopback stand-ins for the metadata address as it
// is off EC2. It is for tests of code that loads credentials through
// package creds, in any package of this module.
package credstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// IsolateEnvironment clears every AWS_* variable for the rest of t, points
// HOME and the shared config and credentials files at an empty temporary
// directory, turns instance metadata off, and sets AWS_REGION to region
// unless it is empty. It returns the directory. Not for parallel tests
// (it changes the process environment).
func IsolateEnvironment(t testing.TB, region string) string {
	t.Helper()
	dir := t.TempDir()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after t
			os.Unsetenv(k)  // and absent, not empty, meanwhile
		}
	}
	t.Setenv("HOME", dir)
	t.Setenv("USERPROFILE", dir)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	if region != "" {
		t.Setenv("AWS_REGION", region)
	}
	return dir
}
