//go:build e2e

package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClientAWSCLI drives the AWS CLI v2 (Debian's awscli) through the proxy
// with --no-sign-request, and straight to each server with its keys.
func TestClientAWSCLI(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range routes(t, s) {
				t.Run(r.name, func(t *testing.T) {
					cli := &awsCLI{bin: tools.aws, route: r, bucket: newBucketName("e2e-awscli")}
					exerciseAWSCLI(t, cli)
				})
			}
		})
	}
}

// awsCLI runs the AWS CLI against one route and bucket.
type awsCLI struct {
	bin    string
	route  route
	bucket string
}

// run runs the CLI with args and returns its stdout; stdin is the
// command's input when not nil.
func (c *awsCLI) run(t *testing.T, stdin io.Reader, args ...string) []byte {
	t.Helper()
	out, err := c.try(t, stdin, args...)
	if err != nil {
		t.Fatalf("through %s: %v", c.route.name, err)
	}
	return out
}

func (c *awsCLI) try(t *testing.T, stdin io.Reader, args ...string) ([]byte, error) {
	t.Helper()
	full := append([]string{"--endpoint-url", c.route.endpoint, "--output", "json"}, args...)
	env := clientEnv(t)
	if c.route.accessKey == "" {
		full = append(full, "--no-sign-request")
	} else {
		env = append(env, withKeys(c.route.accessKey, c.route.secretKey)...)
	}
	cmd := exec.Command(c.bin, full...)
	cmd.Env = env
	cmd.Stdin = stdin
	return run(cmd)
}

// presign runs `aws s3 presign`, which needs keys even through the proxy:
// there any will do, the proxy strips the query signature and signs anew.
func (c *awsCLI) presign(t *testing.T, key string) string {
	t.Helper()
	accessKey, secretKey := c.route.accessKey, c.route.secretKey
	if accessKey == "" {
		accessKey, secretKey = "AKIDCLIENTONLY", "client-only-secret-the-proxy-strips"
	}
	cmd := exec.Command(c.bin, "--endpoint-url", c.route.endpoint, "s3", "presign",
		"s3://"+c.bucket+"/"+key, "--expires-in", "300")
	cmd.Env = append(clientEnv(t), withKeys(accessKey, secretKey)...)
	out, err := run(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func (c *awsCLI) file(t *testing.T, content []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "body-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func (c *awsCLI) listKeys(t *testing.T, prefix string) []string {
	t.Helper()
	var out struct {
		Contents []struct{ Key string }
	}
	// --page-size 4: the CLI follows continuation tokens itself.
	b := c.run(t, nil, "s3api", "list-objects-v2", "--bucket", c.bucket, "--prefix", prefix, "--page-size", "4")
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("list-objects-v2: %v\n%s", err, b)
		}
	}
	var keys []string
	for _, c := range out.Contents {
		keys = append(keys, c.Key)
	}
	slices.Sort(keys)
	return keys
}

func exerciseAWSCLI(t *testing.T, c *awsCLI) {
	content := func(key string) []byte { return []byte("content of " + key + "\n") }

	// Every CLI run costs about a CPU second (Python starting), so each
	// scenario runs the CLI as few times as it can.
	t.Run("bucket", func(t *testing.T) {
		c.run(t, nil, "s3api", "create-bucket", "--bucket", c.bucket)
		var out struct{ Buckets []struct{ Name string } }
		if err := json.Unmarshal(c.run(t, nil, "s3api", "list-buckets"), &out); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(out.Buckets, func(b struct{ Name string }) bool { return b.Name == c.bucket }) {
			t.Errorf("list-buckets: %v does not list %s", out.Buckets, c.bucket)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("odd-keys", func(t *testing.T) {
		// A file per key, uploaded (PutObject each) and downloaded
		// (ListObjectsV2, then GetObject each) by one CLI run each way.
		up, down := t.TempDir(), t.TempDir()
		files := map[string][]byte{}
		for _, key := range clientKeys {
			files[key] = content(key)
			if err := os.MkdirAll(filepath.Dir(filepath.Join(up, key)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(up, key), content(key), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c.run(t, nil, "s3", "cp", "--recursive", up, "s3://"+c.bucket+"/")
		want := slices.Clone(clientKeys)
		slices.Sort(want)
		if got := c.listKeys(t, ""); !slices.Equal(got, want) {
			t.Errorf("list-objects-v2:\n got %q\nwant %q", got, want)
		}
		c.run(t, nil, "s3", "cp", "--recursive", "s3://"+c.bucket+"/", down)
		checkFiles(t, down, files)
	})

	t.Run("presign", func(t *testing.T) {
		key := "dir/plus+equals=semi;colon.txt" // stored by odd-keys
		presigned := map[string]string{"SigV4 (aws s3 presign)": c.presign(t, key)}
		// versitygw verifies SigV4 only; through the proxy it gets SigV4
		// whatever the client presigned with.
		if c.route.name == "proxy" || c.route.server.name != "versitygw" {
			presigned["SigV2 (by hand)"] = c.presignV2(key)
		}
		for name, u := range presigned {
			resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Minute}).Get(u)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content(key)) {
				t.Errorf("GET %s URL: %d %q, want 200 %q", name, resp.StatusCode, tail(body, 300), content(key))
			}
		}
	})

	t.Run("delete-objects", func(t *testing.T) {
		type object struct{ Key string }
		var del struct {
			Objects []object
		}
		for _, key := range clientKeys {
			del.Objects = append(del.Objects, object{key})
		}
		spec, _ := json.Marshal(del)
		var out struct {
			Deleted []object
			Errors  []json.RawMessage
		}
		if err := json.Unmarshal(c.run(t, nil, "s3api", "delete-objects", "--bucket", c.bucket, "--delete", string(spec)), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Errors) > 0 || len(out.Deleted) != len(clientKeys) {
			t.Errorf("delete-objects: deleted %v, errors %s; want every key deleted", out.Deleted, out.Errors)
		}
		if got := c.listKeys(t, ""); len(got) != 0 {
			t.Errorf("after delete-objects the bucket still lists %q", got)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		key := "meta/headers.txt"
		tab := headerTab(c.route.server)
		// No TAB in a metadata value: the proxy refuses one (400
		// ambiguous_header_value, see TestHeaderValuesReadBackEqual), since
		// x-amz-* headers must be signed and verifiers read TABs apart.
		meta := map[string]string{"my-key": "v", "spaced": "two  spaces"}
		headers := map[string]string{
			"ContentType":        "text/plain; charset=utf-8",
			"ContentDisposition": "attachment;" + tab + "filename=\"a" + tab + "b.txt\"",
			"ContentLanguage":    "en-GB",
			"CacheControl":       "max-age=60, private",
		}
		metaJSON, _ := json.Marshal(meta)
		c.run(t, nil, "s3api", "put-object", "--bucket", c.bucket, "--key", key, "--body", c.file(t, []byte("metadata\n")),
			"--metadata", string(metaJSON),
			"--content-type", headers["ContentType"], "--content-disposition", headers["ContentDisposition"],
			"--content-language", headers["ContentLanguage"], "--cache-control", headers["CacheControl"])
		var head map[string]any
		if err := json.Unmarshal(c.run(t, nil, "s3api", "head-object", "--bucket", c.bucket, "--key", key), &head); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(head["Metadata"])
		if want, _ := json.Marshal(meta); !bytes.Equal(got, want) {
			t.Errorf("head-object Metadata %s, want %s", got, want)
		}
		for name, want := range headers {
			if got, _ := head[name].(string); got != want {
				t.Errorf("head-object %s %q, want %q", name, got, want)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		key := "stream/from-stdin.bin"
		var sent bytes.Buffer
		c.run(t, io.TeeReader(deterministicStream(7, 3<<20+2500), &sent), "s3", "cp", "-", "s3://"+c.bucket+"/"+key)
		got := c.run(t, nil, "s3", "cp", "s3://"+c.bucket+"/"+key, "-")
		if !bytes.Equal(got, sent.Bytes()) {
			t.Errorf("s3 cp from stdin and back: %d bytes came back, want the %d sent", len(got), sent.Len())
		}
	})

	t.Run("multipart", func(t *testing.T) {
		key := "multipart/big object.bin"
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "up.bin"), filepath.Join(dir, "down.bin")
		want := writeBigFile(t, src, 11, multipartMiB<<20)
		// The CLI uploads in 8 MiB parts above its 8 MiB threshold.
		c.run(t, nil, "s3", "cp", src, "s3://"+c.bucket+"/"+key)
		c.run(t, nil, "s3", "cp", "s3://"+c.bucket+"/"+key, dst)
		if got := fileSum(t, dst); !bytes.Equal(got, want) {
			t.Errorf("downloaded content hash %x, want %x", got, want)
		}
	})

	t.Run("sync", func(t *testing.T) {
		src, back := t.TempDir(), t.TempDir()
		files := writeFiles(t, src, 300)
		c.run(t, nil, "s3", "sync", src, "s3://"+c.bucket+"/sync/")
		c.run(t, nil, "s3", "sync", "s3://"+c.bucket+"/sync/", back)
		checkFiles(t, back, files)
		// rm --recursive deletes with DeleteObjects, 300 keys in one
		// request, and fails on any key's error.
		c.run(t, nil, "s3", "rm", "--recursive", "s3://"+c.bucket+"/sync/")
	})

	t.Run("delete-bucket", func(t *testing.T) {
		// --force deletes what the scenarios left first.
		c.run(t, nil, "s3", "rb", "s3://"+c.bucket, "--force")
	})
}

// presignV2 builds the query-string-authenticated URL the AWS CLI v1 makes
// (SigV2: AWSAccessKeyId, Expires, Signature), which the v2 CLI no longer
// can. Through the proxy the keys are the client's own, which the proxy
// must strip.
func (c *awsCLI) presignV2(key string) string {
	accessKey, secretKey := c.route.accessKey, c.route.secretKey
	if accessKey == "" {
		accessKey, secretKey = "AKIDCLIENTONLY", "client-only-secret-the-proxy-strips"
	}
	path := "/" + c.bucket + "/" + s3Escape(key)
	expires := fmt.Sprint(time.Now().Add(5 * time.Minute).Unix())
	mac := hmac.New(sha1.New, []byte(secretKey))
	mac.Write([]byte("GET\n\n\n" + expires + "\n" + path))
	q := url.Values{
		"AWSAccessKeyId": {accessKey},
		"Expires":        {expires},
		"Signature":      {base64.StdEncoding.EncodeToString(mac.Sum(nil))},
	}
	return c.route.endpoint + path + "?" + q.Encode()
}
