//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAWSCLIThroughHTTPSProxy: the AWS CLI with HTTPS_PROXY pointing at the
// proxy and AWS_CA_BUNDLE at the CA from `ca init` talks to
// https://s3.us-east-1.amazonaws.com; the proxy terminates the tunnel with
// a leaf it mints for that host and sends each request to MinIO
// (--connect-to) signed with MinIO's keys. The CLI signs with keys MinIO
// does not know: the proxy replaces that signature with its own, as it
// does for any request that arrives signed. Create a bucket, a multipart
// upload and its download, a listing, delete-objects.
func TestAWSCLIThroughHTTPSProxy(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	s := serverNamed("minio")
	caCert, caKey := mitmCA(t)
	bucket := newBucketName("e2e-mitm")
	args := append(sidecarArgs(s, hostPathMode, bucket),
		"--allow-hosts", s3Domain+",*."+s3Domain,
		"--mitm-ca-cert", caCert, "--mitm-ca-key", caKey)
	sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), args...)

	const clientKey, clientSecret = "AKIDCLIENTONLY000000", "client-secret-that-minio-does-not-know"
	aws := func(t *testing.T, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(tools.aws, append([]string{"--endpoint-url", "https://" + s3Domain, "--output", "json"}, args...)...)
		cmd.Env = clientEnv(t, append(withKeys(clientKey, clientSecret),
			"HTTPS_PROXY=http://"+sc.proxyAddr, "AWS_CA_BUNDLE="+caCert, "NO_PROXY=")...)
		out, err := run(cmd)
		if err != nil {
			t.Fatalf("%v\nsidecar log:\n%s", err, tail([]byte(sc.log.String()), 3000))
		}
		return out
	}

	aws(t, "s3api", "create-bucket", "--bucket", bucket)
	dir := t.TempDir()
	src, back := filepath.Join(dir, "big.bin"), filepath.Join(dir, "back.bin")
	// 20 MiB: above the CLI's 8 MiB multipart threshold, so three parts.
	want := writeBigFile(t, src, 19, 20<<20)
	aws(t, "s3", "cp", src, "s3://"+bucket+"/dir/big.bin")
	aws(t, "s3", "cp", "s3://"+bucket+"/dir/big.bin", back)
	if got := fileSum(t, back); !bytes.Equal(got, want) {
		t.Errorf("the object downloaded through the tunnel differs from the one uploaded")
	}
	aws(t, "s3", "cp", src, "s3://"+bucket+"/dir/odd key+=;.bin", "--expected-size", "20971520")
	var list struct{ Contents []struct{ Key string } }
	if err := json.Unmarshal(aws(t, "s3api", "list-objects-v2", "--bucket", bucket), &list); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	if !slices.Equal(keys, []string{"dir/big.bin", "dir/odd key+=;.bin"}) {
		t.Errorf("list-objects-v2: %q", keys)
	}
	out := aws(t, "s3api", "delete-objects", "--bucket", bucket, "--delete", `{"Objects":[{"Key":"dir/big.bin"},{"Key":"dir/odd key+=;.bin"}]}`)
	if !strings.Contains(string(out), `"Deleted"`) || strings.Contains(string(out), `"Errors"`) {
		t.Errorf("delete-objects: %s", out)
	}
	aws(t, "s3api", "delete-bucket", "--bucket", bucket)
	if !strings.Contains(sc.log.String(), `"method":"CONNECT"`) {
		t.Errorf("no CONNECT in the proxy's log: the CLI did not go through the tunnel")
	}
	assertNoSecrets(t, sc, clientSecret)
}
