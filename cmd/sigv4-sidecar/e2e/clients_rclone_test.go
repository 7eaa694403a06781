//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestClientRclone drives rclone (Debian's) through the proxy as an
// anonymous S3 remote, and straight to each server with its keys.
func TestClientRclone(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range routes(t, s) {
				t.Run(r.name, func(t *testing.T) {
					rc := &rclone{bin: tools.rclone, route: r, bucket: newBucketName("e2e-rclone")}
					exerciseRclone(t, rc)
				})
			}
		})
	}
}

// rclone runs rclone against one route and bucket, with its remote "e2e"
// configured in the environment only.
type rclone struct {
	bin    string
	route  route
	bucket string
}

func (rc *rclone) remote(path string) string {
	if path == "" {
		return "e2e:" + rc.bucket
	}
	return "e2e:" + rc.bucket + "/" + path
}

func (rc *rclone) run(t *testing.T, stdin io.Reader, args ...string) []byte {
	t.Helper()
	out, err := rc.try(t, stdin, args...)
	if err != nil {
		t.Fatalf("through %s: %v", rc.route.name, err)
	}
	return out
}

func (rc *rclone) try(t *testing.T, stdin io.Reader, args ...string) ([]byte, error) {
	t.Helper()
	// One try each: a failure shows at once, not after rclone's retries.
	cmd := exec.Command(rc.bin, append(args, "--retries", "1", "--low-level-retries", "1")...)
	cmd.Env = clientEnv(t,
		"RCLONE_CONFIG_E2E_TYPE=s3",
		"RCLONE_CONFIG_E2E_PROVIDER=Other",
		"RCLONE_CONFIG_E2E_ENDPOINT="+rc.route.endpoint,
		"RCLONE_CONFIG_E2E_REGION="+region,
		"RCLONE_CONFIG_E2E_FORCE_PATH_STYLE=true",
		"RCLONE_CONFIG_E2E_ENV_AUTH=false",
		// No keys makes the remote anonymous: rclone signs nothing.
		"RCLONE_CONFIG_E2E_ACCESS_KEY_ID="+rc.route.accessKey,
		"RCLONE_CONFIG_E2E_SECRET_ACCESS_KEY="+rc.route.secretKey,
	)
	cmd.Stdin = stdin
	return run(cmd)
}

// files lists every object under path, relative to it.
func (rc *rclone) files(t *testing.T, path string) []string {
	t.Helper()
	var keys []string
	for _, line := range strings.Split(string(rc.run(t, nil, "lsf", "-R", "--files-only", rc.remote(path))), "\n") {
		if line != "" {
			keys = append(keys, line)
		}
	}
	slices.Sort(keys)
	return keys
}

func exerciseRclone(t *testing.T, rc *rclone) {
	content := func(key string) []byte { return []byte("content of " + key + "\n") }

	t.Run("bucket", func(t *testing.T) {
		rc.run(t, nil, "mkdir", rc.remote(""))
		if got := rc.run(t, nil, "lsf", "--dirs-only", "e2e:"); !slices.Contains(strings.Split(string(got), "\n"), rc.bucket+"/") {
			t.Errorf("lsf e2e: does not list %s:\n%s", rc.bucket, got)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("odd-keys", func(t *testing.T) {
		for _, key := range clientKeys {
			rc.run(t, bytes.NewReader(content(key)), "rcat", rc.remote(key))
			if got := rc.run(t, nil, "cat", rc.remote(key)); !bytes.Equal(got, content(key)) {
				t.Errorf("cat %q: %q, want %q", key, got, content(key))
			}
		}
		want := slices.Clone(clientKeys)
		slices.Sort(want)
		if got := rc.files(t, ""); !slices.Equal(got, want) {
			t.Errorf("lsf -R:\n got %q\nwant %q", got, want)
		}
		rc.run(t, nil, "delete", rc.remote(""))
		if got := rc.files(t, ""); len(got) != 0 {
			t.Errorf("after delete the bucket still lists %q", got)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		key := "meta/headers.txt"
		// No TAB: rclone's signer (aws-sdk-go v1) keeps a TAB in its
		// canonical header values while MinIO collapses it, so rclone
		// signing straight to MinIO gets SignatureDoesNotMatch. The AWS CLI
		// and the JavaScript SDK put TABs through.
		tab := " "
		set := map[string]string{
			"my-key":              "v",
			"tabbed":              "a" + tab + "b",
			"spaced":              "two  spaces",
			"content-type":        "text/plain; charset=utf-8",
			"content-disposition": "attachment;" + tab + "filename=\"a" + tab + "b.txt\"",
			"content-language":    "en-GB",
			"cache-control":       "max-age=60, private",
		}
		args := []string{"rcat", rc.remote(key), "-M"}
		for k, v := range set {
			args = append(args, "--metadata-set", k+"="+v)
		}
		rc.run(t, strings.NewReader("metadata\n"), args...)
		var got struct{ Metadata map[string]string }
		if err := json.Unmarshal(rc.run(t, nil, "lsjson", "--stat", "-M", rc.remote(key)), &got); err != nil {
			t.Fatal(err)
		}
		for k, want := range set {
			if got.Metadata[k] != want {
				t.Errorf("lsjson -M %s: %q, want %q (all: %q)", k, got.Metadata[k], want, got.Metadata)
			}
		}
		rc.run(t, nil, "deletefile", rc.remote(key))
	})

	t.Run("stream", func(t *testing.T) {
		// rcat streams a body above --streaming-upload-cutoff (100 KiB) as
		// a multipart upload of unknown length.
		key := "stream/from-stdin.bin"
		var sent bytes.Buffer
		rc.run(t, io.TeeReader(deterministicStream(8, 3<<20+2500), &sent), "rcat", rc.remote(key))
		if got := rc.run(t, nil, "cat", rc.remote(key)); !bytes.Equal(got, sent.Bytes()) {
			t.Errorf("rcat and cat back: %d bytes came back, want the %d sent", len(got), sent.Len())
		}
		rc.run(t, nil, "deletefile", rc.remote(key))
	})

	t.Run("multipart", func(t *testing.T) {
		key := "multipart/big object.bin"
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "up.bin"), filepath.Join(dir, "down.bin")
		want := writeBigFile(t, src, 12, multipartMiB<<20)
		rc.run(t, nil, "copyto", src, rc.remote(key), "--s3-upload-cutoff", "16Mi", "--s3-chunk-size", "16Mi")
		rc.run(t, nil, "copyto", rc.remote(key), dst)
		if got := fileSum(t, dst); !bytes.Equal(got, want) {
			t.Errorf("downloaded content hash %x, want %x", got, want)
		}
		rc.run(t, nil, "deletefile", rc.remote(key))
	})

	t.Run("sync", func(t *testing.T) {
		src, back := t.TempDir(), t.TempDir()
		files := writeFiles(t, src, 300)
		rc.run(t, nil, "sync", src, rc.remote("sync"))
		rc.run(t, nil, "check", src, rc.remote("sync"))
		rc.run(t, nil, "copy", rc.remote("sync"), back)
		checkFiles(t, back, files)
		rc.run(t, nil, "delete", rc.remote("sync"))
	})

	t.Run("delete-bucket", func(t *testing.T) {
		rc.run(t, nil, "purge", rc.remote(""))
		if got := rc.run(t, nil, "lsf", "--dirs-only", "e2e:"); slices.Contains(strings.Split(string(got), "\n"), rc.bucket+"/") {
			t.Errorf("lsf e2e: still lists %s after purge", rc.bucket)
		}
	})
}
