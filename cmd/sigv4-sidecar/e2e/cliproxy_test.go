//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestClientKeysAWSCLIThroughHTTPSProxy: the AWS CLI with only a client key,
// HTTPS_PROXY at the proxy and AWS_CA_BUNDLE its MITM CA, talks to the real
// S3 and STS names (virtual-hosted buckets included) while MinIO and an STS
// stand-in, which know only the proxy's keys, answer: s3 cp of a multipart
// file up and down, s3 sync of 300 files up and back down, s3api
// delete-objects, sts get-caller-identity. A smaller sync, delete-objects
// and STS run with --endpoint-url at the proxy on the same sidecar. A wrong secret
// gets SignatureDoesNotMatch from the proxy, printed by the CLI, and
// nothing reaches MinIO or the stand-in.
func TestClientKeysAWSCLIThroughHTTPSProxy(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	s := serverNamed("minio")
	tp := newTap(t, s)
	stsUp := newSTSUpstream(t, s)
	caCert, caKey := mitmCA(t)
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(e2eClientKeyID+" "+e2eClientSecret+" "+e2eClientName+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const stsHost = "sts." + region + ".amazonaws.com"
	sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
		"--client-keys-file", keys, "--mitm-ca-cert", caCert, "--mitm-ca-key", caKey,
		"--allow-hosts", s3Domain+",*."+s3Domain+","+stsHost,
		"--connect-to", s3Domain+":="+tp.url(), "--connect-to", "*."+s3Domain+":="+tp.url(),
		"--connect-to", stsHost+":="+stsUp.URL)

	for _, setup := range []struct {
		name  string
		args  []string // before the command
		env   []string
		files int // synced up and down
	}{
		{"HTTPS_PROXY", nil, []string{"HTTPS_PROXY=http://" + sc.proxyAddr, "AWS_CA_BUNDLE=" + caCert, "NO_PROXY="}, 300},
		// TestClientKeysAWSCLI covers the rest with --endpoint-url.
		{"endpoint at the proxy", []string{"--endpoint-url", sc.url()}, nil, 40},
	} {
		t.Run(setup.name, func(t *testing.T) {
			cli := func(secret string, args ...string) ([]byte, error) {
				cmd := exec.Command(tools.aws, append(append(slices.Clone(setup.args), "--output", "json"), args...)...)
				cmd.Env = clientEnv(t, append(withKeys(e2eClientKeyID, secret), setup.env...)...)
				return run(cmd)
			}
			must := func(args ...string) []byte {
				t.Helper()
				out, err := cli(e2eClientSecret, args...)
				if err != nil {
					t.Fatalf("%v\nsidecar log:\n%s", err, tail([]byte(sc.log.String()), 3000))
				}
				return out
			}
			bucket := newBucketName("e2e-cli-keys")
			must("s3api", "create-bucket", "--bucket", bucket)
			dir := t.TempDir()
			if setup.args == nil {
				// 17 MiB: three parts at the CLI's 8 MiB threshold.
				src, back := filepath.Join(dir, "big.bin"), filepath.Join(dir, "back.bin")
				want := writeBigFile(t, src, 23, 17<<20)
				must("s3", "cp", src, "s3://"+bucket+"/big.bin")
				must("s3", "cp", "s3://"+bucket+"/big.bin", back)
				if !bytes.Equal(fileSum(t, back), want) {
					t.Errorf("big.bin came back different")
				}
				must("s3", "rm", "s3://"+bucket+"/big.bin")
			}
			up, down := filepath.Join(dir, "up"), filepath.Join(dir, "down")
			files := writeFiles(t, up, setup.files)
			must("s3", "sync", up, "s3://"+bucket+"/tree/")
			must("s3", "sync", "s3://"+bucket+"/tree/", down)
			checkFiles(t, down, files)

			var gone []string
			for rel := range files {
				if len(gone) < 3 {
					gone = append(gone, rel)
				}
			}
			var del struct {
				Objects []map[string]string `json:"Objects"`
			}
			for _, rel := range gone {
				del.Objects = append(del.Objects, map[string]string{"Key": "tree/" + rel})
			}
			spec, _ := json.Marshal(del)
			var deleted struct {
				Deleted []struct{ Key string }
				Errors  []any
			}
			if err := json.Unmarshal(must("s3api", "delete-objects", "--bucket", bucket, "--delete", string(spec)), &deleted); err != nil || len(deleted.Deleted) != len(gone) || len(deleted.Errors) != 0 {
				t.Errorf("delete-objects: %+v %v", deleted, err)
			}
			var list struct{ Contents []struct{ Key string } }
			if err := json.Unmarshal(must("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "tree/"), &list); err != nil || len(list.Contents) != len(files)-len(gone) {
				t.Errorf("after delete-objects, list-objects-v2 lists %d keys (%v), want %d", len(list.Contents), err, len(files)-len(gone))
			}
			for _, c := range list.Contents {
				if slices.Contains(gone, strings.TrimPrefix(c.Key, "tree/")) {
					t.Errorf("delete-objects: %s is still listed", c.Key)
				}
			}

			var id struct{ Arn string }
			if err := json.Unmarshal(must("sts", "get-caller-identity"), &id); err != nil || id.Arn != "arn:aws:iam::123456789012:user/"+s.accessKey {
				t.Errorf("sts get-caller-identity: %+v %v", id, err)
			}

			for i, k := range tp.accessKeys() {
				if k != s.accessKey {
					t.Fatalf("request %d reached MinIO signed with %s, want only the proxy's key", i, k)
				}
			}
			s3Before, stsBefore := len(tp.accessKeys()), stsUp.received.Load()
			for _, args := range [][]string{{"s3api", "list-objects-v2", "--bucket", bucket}, {"sts", "get-caller-identity"}} {
				if out, err := cli("wrong-secret-wrong-secret", args...); err == nil || !strings.Contains(err.Error(), "An error occurred (SignatureDoesNotMatch)") {
					t.Errorf("%s with a wrong secret: %s %v; want the CLI to print SignatureDoesNotMatch", args, out, err)
				}
			}
			if n, m := len(tp.accessKeys())-s3Before, stsUp.received.Load()-stsBefore; n != 0 || m != 0 {
				t.Errorf("MinIO received %d and the STS stand-in %d refused requests", n, m)
			}
			must("s3", "rm", "--recursive", "s3://"+bucket+"/")
			must("s3api", "delete-bucket", "--bucket", bucket)
		})
	}
	if !strings.Contains(sc.log.String(), `"method":"CONNECT"`) {
		t.Errorf("no CONNECT in the proxy's log: the CLI did not go through the tunnel")
	}
	if !strings.Contains(sc.log.String(), `"client":"`+e2eClientName+`"`) {
		t.Errorf("the request log does not name the client %s", e2eClientName)
	}
	assertNoSecrets(t, sc, e2eClientSecret)
}
