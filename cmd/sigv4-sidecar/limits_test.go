package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestMaxProcsHugeIsRefused: --max-procs 9223372036854775807 reached
// runtime.GOMAXPROCS and ended the process in "fatal error: procresize:
// invalid arg" (2147483647: slice bounds out of range). The start now fails
// with the option's name and its range, before anything listens.
func TestMaxProcsHugeIsRefused(t *testing.T) {
	setStaticKeys(t)
	for _, n := range []string{"9223372036854775807", "2147483647", "1025"} {
		var stdout, stderr bytes.Buffer
		err := runEnv(context.Background(), []string{"serve", "--max-procs", n, "--upstream", "http://127.0.0.1:9", "--service", "s3", "--region", "us-east-1"}, nil, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), `invalid --max-procs "`+n+`"`) || !strings.Contains(err.Error(), "1 to 1024") {
			t.Errorf("--max-procs %s: %v", n, err)
		}
	}
	var stdout, stderr bytes.Buffer
	err := runEnv(context.Background(), []string{"serve", "--upstream", "http://127.0.0.1:9", "--service", "s3", "--region", "us-east-1"}, []string{"SIGV4_MAX_PROCS=100000000"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "max-procs") {
		t.Errorf("SIGV4_MAX_PROCS=100000000: %v", err)
	}
}
