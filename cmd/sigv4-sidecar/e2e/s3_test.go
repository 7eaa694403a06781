//go:build e2e

package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// objectKeys are the keys every addressing mode stores, lists, reads and
// deletes: each character class that SigV4's canonical URI and S3's key
// rules treat specially.
var objectKeys = []string{
	"plain.txt",
	"dir/with space.txt",
	"dir/plus+equals=semi;colon.txt",
	"dir/sub/unicode-héllo-世界-🎉.txt",
	"tilde~percent%41%2F-bang!.txt",
	"quote'paren(star)*.txt",
	"dots..in..name..",
}

// pathSegmentKeys hold "//" and ".." segments, which each server handles its
// own way: MinIO refuses them, versitygw's posix backend folds them as a file
// system path would. Either way the proxy must forward the path as the app
// sent it (cleaning it would change the key and, for MinIO, turn a refusal
// into a success) and deliver the server's answer.
var pathSegmentKeys = []struct {
	key string
	// minioRefusal is MinIO's error code for the key.
	minioRefusal string
	// versityStoredAs is the key versitygw lists after storing it.
	versityStoredAs string
}{
	{"double//slash.txt", "XMinioInvalidObjectName", "double/slash.txt"},
	{"dir/../climb.txt", "XMinioInvalidResourceName", "climb.txt"},
}

// newBucketName is a fresh, DNS-compatible bucket name.
func newBucketName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// TestS3Operations drives every S3 operation an app needs through the proxy,
// against each server, in fixed mode and in host mode (path-style with a Host
// header, and virtual-hosted bucket names in absolute form).
func TestS3Operations(t *testing.T) {
	for _, s := range servers {
		for _, mode := range addressingModes {
			t.Run(s.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				bucket := newBucketName("e2e-" + mode)
				sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), sidecarArgs(s, mode, bucket)...)
				a := newApp(sc, mode)
				a.server = s.name
				exerciseS3(t, a, bucket)
			})
		}
	}
}

func exerciseS3(t *testing.T, a *app, bucket string) {
	a.expect(t, a.request(t, http.MethodPut, bucket, "", "", nil), http.StatusOK)
	a.expect(t, a.request(t, http.MethodHead, bucket, "", "", nil), http.StatusOK)

	content := func(key string) []byte { return []byte("content of " + key + "\n") }
	t.Run("put-head-get", func(t *testing.T) {
		for _, key := range objectKeys {
			req := a.request(t, http.MethodPut, bucket, key, "", bytes.NewReader(content(key)))
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
			req.Header.Set("X-Amz-Meta-Origin", "e2e "+a.mode)
			resp, _ := a.expect(t, req, http.StatusOK)
			sum := md5.Sum(content(key))
			if etag := strings.Trim(resp.Header.Get("ETag"), `"`); etag != hex.EncodeToString(sum[:]) {
				t.Errorf("PUT %q: ETag %q, want the MD5 of what was sent %x", key, etag, sum)
			}

			resp, body := a.expect(t, a.request(t, http.MethodHead, bucket, key, "", nil), http.StatusOK)
			if len(body) != 0 || resp.ContentLength != int64(len(content(key))) {
				t.Errorf("HEAD %q: Content-Length %d body %d bytes, want %d and none", key, resp.ContentLength, len(body), len(content(key)))
			}
			if got := resp.Header.Get("X-Amz-Meta-Origin"); got != "e2e "+a.mode {
				t.Errorf("HEAD %q: X-Amz-Meta-Origin %q, want %q", key, got, "e2e "+a.mode)
			}
			_, body = a.expect(t, a.request(t, http.MethodGet, bucket, key, "", nil), http.StatusOK)
			if !bytes.Equal(body, content(key)) {
				t.Errorf("GET %q: %q, want %q", key, body, content(key))
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		// Every key, one page at a time, through continuation tokens; the
		// server's own listing proves each key arrived byte for byte.
		for _, enc := range []string{"", "url"} {
			var got []string
			token, pages := "", 0
			for {
				q := url.Values{"list-type": {"2"}, "max-keys": {"3"}}
				if enc != "" {
					q.Set("encoding-type", enc)
				}
				if token != "" {
					q.Set("continuation-token", token)
				}
				_, body := a.expect(t, a.request(t, http.MethodGet, bucket, "", q.Encode(), nil), http.StatusOK)
				res := parseList(t, body)
				got = append(got, res.keys()...)
				pages++
				if !res.IsTruncated {
					break
				}
				if res.NextContinuationToken == "" || pages > len(objectKeys) {
					t.Fatalf("list (encoding-type %q): truncated page %d without a usable continuation token:\n%s", enc, pages, body)
				}
				token = res.NextContinuationToken
			}
			want := slices.Clone(objectKeys)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) || pages < 3 {
				t.Errorf("list (encoding-type %q) in %d pages:\n got %q\nwant %q", enc, pages, got, want)
			}
		}

		q := url.Values{"list-type": {"2"}, "prefix": {"dir/"}, "delimiter": {"/"}, "encoding-type": {"url"}}
		_, body := a.expect(t, a.request(t, http.MethodGet, bucket, "", q.Encode(), nil), http.StatusOK)
		res := parseList(t, body)
		keys, prefixes := res.keys(), res.prefixes()
		wantKeys := []string{"dir/plus+equals=semi;colon.txt", "dir/with space.txt"}
		if slices.Sort(keys); !slices.Equal(keys, wantKeys) || !slices.Equal(prefixes, []string{"dir/sub/"}) {
			t.Errorf("list prefix dir/ delimiter /: keys %q prefixes %q, want %q and [dir/sub/]", keys, prefixes, wantKeys)
		}
	})

	t.Run("range", func(t *testing.T) {
		key := "dir/with space.txt"
		req := a.request(t, http.MethodGet, bucket, key, "", nil)
		req.Header.Set("Range", "bytes=3-9")
		resp, body := a.expect(t, req, http.StatusPartialContent)
		if want := content(key)[3:10]; !bytes.Equal(body, want) {
			t.Errorf("GET %q bytes=3-9: %q, want %q", key, body, want)
		}
		if cr, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes 3-9/%d", len(content(key))); cr != want {
			t.Errorf("Content-Range %q, want %q", cr, want)
		}
	})

	t.Run("copy", func(t *testing.T) {
		src := "dir/sub/unicode-héllo-世界-🎉.txt"
		dst := "copies/quote'paren(star)* copy.txt"
		req := a.request(t, http.MethodPut, bucket, dst, "", nil)
		req.Header.Set("X-Amz-Copy-Source", "/"+bucket+"/"+s3Escape(src))
		_, body := a.expect(t, req, http.StatusOK)
		if !bytes.Contains(body, []byte("CopyObjectResult")) {
			t.Fatalf("copy: answer is not a CopyObjectResult:\n%s", body)
		}
		_, body = a.expect(t, a.request(t, http.MethodGet, bucket, dst, "", nil), http.StatusOK)
		if !bytes.Equal(body, content(src)) {
			t.Errorf("GET copy: %q, want %q", body, content(src))
		}
		a.expect(t, a.request(t, http.MethodDelete, bucket, dst, "", nil), http.StatusNoContent)
	})

	t.Run("tagging", func(t *testing.T) {
		key := "dir/plus+equals=semi;colon.txt"
		tags := `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>` +
			`<Tag><Key>team</Key><Value>e2e tests</Value></Tag><Tag><Key>mode</Key><Value>` + a.mode + `</Value></Tag>` +
			`</TagSet></Tagging>`
		a.expect(t, a.request(t, http.MethodPut, bucket, key, "tagging", strings.NewReader(tags)), http.StatusOK)
		_, body := a.expect(t, a.request(t, http.MethodGet, bucket, key, "tagging", nil), http.StatusOK)
		var got struct {
			Tags []struct{ Key, Value string } `xml:"TagSet>Tag"`
		}
		if err := xml.Unmarshal(body, &got); err != nil {
			t.Fatalf("GET ?tagging: %v\n%s", err, body)
		}
		m := map[string]string{}
		for _, tag := range got.Tags {
			m[tag.Key] = tag.Value
		}
		if len(m) != 2 || m["team"] != "e2e tests" || m["mode"] != a.mode {
			t.Errorf("GET ?tagging: %v, want team=e2e tests mode=%s", m, a.mode)
		}
		a.expect(t, a.request(t, http.MethodDelete, bucket, key, "tagging", nil), http.StatusNoContent)
	})

	t.Run("multipart", func(t *testing.T) {
		key := "multi part/объект+1.bin"
		_, body := a.expect(t, a.request(t, http.MethodPost, bucket, key, "uploads", nil), http.StatusOK)
		var initiated struct {
			UploadID string `xml:"UploadId"`
		}
		if err := xml.Unmarshal(body, &initiated); err != nil || initiated.UploadID == "" {
			t.Fatalf("CreateMultipartUpload: no UploadId (%v):\n%s", err, body)
		}
		// S3's minimum part size is 5 MiB, except for the last part.
		sizes := []int{5 << 20, 5 << 20, 12345}
		var whole []byte
		complete := `<CompleteMultipartUpload>`
		for i, size := range sizes {
			part := make([]byte, size)
			rand.Read(part)
			whole = append(whole, part...)
			q := url.Values{"partNumber": {fmt.Sprint(i + 1)}, "uploadId": {initiated.UploadID}}
			resp, _ := a.expect(t, a.request(t, http.MethodPut, bucket, key, q.Encode(), bytes.NewReader(part)), http.StatusOK)
			complete += fmt.Sprintf("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, resp.Header.Get("ETag"))
		}
		complete += `</CompleteMultipartUpload>`
		q := url.Values{"uploadId": {initiated.UploadID}}
		_, body = a.expect(t, a.request(t, http.MethodPost, bucket, key, q.Encode(), strings.NewReader(complete)), http.StatusOK)
		// A CompleteMultipartUpload can fail with 200 and an Error body.
		if !bytes.Contains(body, []byte("CompleteMultipartUploadResult")) {
			t.Fatalf("CompleteMultipartUpload:\n%s", body)
		}
		_, got := a.expect(t, a.request(t, http.MethodGet, bucket, key, "", nil), http.StatusOK)
		if !bytes.Equal(got, whole) {
			t.Errorf("GET multipart object: %d bytes, want the %d bytes of its 3 parts", len(got), len(whole))
		}
		a.expect(t, a.request(t, http.MethodDelete, bucket, key, "", nil), http.StatusNoContent)
	})

	t.Run("path-segments", func(t *testing.T) {
		for _, pk := range pathSegmentKeys {
			resp, body := a.do(t, a.request(t, http.MethodPut, bucket, pk.key, "", bytes.NewReader(content(pk.key))))
			e, _ := parseS3Error(body)
			if a.server == "minio" {
				if resp.StatusCode != http.StatusBadRequest || e.Code != pk.minioRefusal {
					t.Errorf("PUT %q: %d %s, want MinIO's own 400 %s", pk.key, resp.StatusCode, body, pk.minioRefusal)
				}
				continue
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT %q: %d %s, want 200", pk.key, resp.StatusCode, body)
			}
			q := url.Values{"list-type": {"2"}, "prefix": {pk.versityStoredAs}}
			_, body = a.expect(t, a.request(t, http.MethodGet, bucket, "", q.Encode(), nil), http.StatusOK)
			if keys := parseList(t, body).keys(); !slices.Equal(keys, []string{pk.versityStoredAs}) {
				t.Errorf("PUT %q: listed as %q, want versitygw's folded %q", pk.key, keys, pk.versityStoredAs)
			}
			_, body = a.expect(t, a.request(t, http.MethodGet, bucket, pk.key, "", nil), http.StatusOK)
			if !bytes.Equal(body, content(pk.key)) {
				t.Errorf("GET %q: %q, want %q", pk.key, body, content(pk.key))
			}
			a.expect(t, a.request(t, http.MethodDelete, bucket, pk.versityStoredAs, "", nil), http.StatusNoContent)
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, key := range objectKeys {
			a.expect(t, a.request(t, http.MethodDelete, bucket, key, "", nil), http.StatusNoContent)
			resp, body := a.do(t, a.request(t, http.MethodGet, bucket, key, "", nil))
			if e, _ := parseS3Error(body); resp.StatusCode != http.StatusNotFound || e.Code != "NoSuchKey" {
				t.Errorf("GET %q after DELETE: %d %s, want 404 NoSuchKey", key, resp.StatusCode, body)
			}
		}
		a.expect(t, a.request(t, http.MethodDelete, bucket, "", "", nil), http.StatusNoContent)
		resp, body := a.do(t, a.request(t, http.MethodHead, bucket, "", "", nil))
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD bucket after DELETE: %d %s, want 404", resp.StatusCode, body)
		}
	})
}

// listResult is a ListObjectsV2 answer. Keys are URL-encoded when the server
// says EncodingType url (versitygw ignores encoding-type and sends them raw).
type listResult struct {
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
	EncodingType          string `xml:"EncodingType"`
	Contents              []struct {
		Key string `xml:"Key"`
	} `xml:"Contents"`
	CommonPrefixes []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
}

func parseList(t *testing.T, body []byte) listResult {
	t.Helper()
	var r listResult
	if err := xml.Unmarshal(body, &r); err != nil {
		t.Fatalf("ListObjectsV2: %v\n%s", err, body)
	}
	return r
}

func (r listResult) decode(s string) string {
	if r.EncodingType != "url" {
		return s
	}
	d, err := url.QueryUnescape(s)
	if err != nil {
		return "undecodable:" + s
	}
	return d
}

func (r listResult) keys() []string {
	var out []string
	for _, c := range r.Contents {
		out = append(out, r.decode(c.Key))
	}
	return out
}

func (r listResult) prefixes() []string {
	var out []string
	for _, c := range r.CommonPrefixes {
		out = append(out, r.decode(c.Prefix))
	}
	return out
}
