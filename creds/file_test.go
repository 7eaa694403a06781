package creds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fileContent(profile string, gen int) string {
	return fmt.Sprintf("# written by the rotator\n[other]\naws_access_key_id = AKIAOTHER0000000000\naws_secret_access_key = other\n\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		profile, genKeyID("AKIAFILE", gen), genSecret(gen))
}

// kubeVolume lays a file out the way the kubelet's AtomicWriter does for a
// Secret volume: dir/credentials -> ..data/credentials, ..data -> a
// timestamped directory; an update writes a new directory and swaps ..data
// with a rename, so the file's own path never changes inode in place.
type kubeVolume struct {
	dir string
	n   int
}

func newKubeVolume(t *testing.T, content string) *kubeVolume {
	t.Helper()
	v := &kubeVolume{dir: t.TempDir()}
	v.update(t, content)
	if err := os.Symlink(filepath.Join("..data", "credentials"), v.path()); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *kubeVolume) path() string { return filepath.Join(v.dir, "credentials") }

func (v *kubeVolume) update(t *testing.T, content string) {
	t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_11_22_13_00_%02d.%d", v.n, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(v.dir, ts, "credentials"), content)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		os.RemoveAll(filepath.Join(v.dir, old))
	}
}

// replaceFile writes content next to path and renames it over path, as
// rotation tools that write atomically do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestCredentialsFileRotationUnderLoad rewrites --credentials-file, by
// rename and by the Kubernetes symlink swap, while readers call Retrieve:
// every value is a whole key pair, generations never go backwards, and each
// new generation is picked up without a restart.
func TestCredentialsFileRotationUnderLoad(t *testing.T) {
	isolateAWSEnv(t)
	for _, layout := range []string{"rename", "kubernetes-symlink-swap"} {
		t.Run(layout, func(t *testing.T) {
			var write func(content string)
			var path string
			if layout == "rename" {
				path = filepath.Join(t.TempDir(), "credentials")
				writeFile(t, path, fileContent("app", 1))
				write = func(content string) { replaceFile(t, path, content) }
			} else {
				v := newKubeVolume(t, fileContent("app", 1))
				path = v.path()
				write = func(content string) { v.update(t, content) }
			}
			p, err := Resolve(context.Background(), Config{CredentialsFile: path, Profile: "app"})
			if err != nil {
				t.Fatal(err)
			}
			c := NewCache(p, fastOptions(t))
			defer c.Close()
			if got := mustRetrieve(t, c); got.Source != "credentials-file (profile app)" || got.CanExpire {
				t.Fatalf("first = %v, want static keys from credentials-file (profile app)", got)
			}

			var (
				stop     atomic.Bool
				latest   atomic.Int64 // highest generation any reader saw
				wg       sync.WaitGroup
				failures = make(chan error, 16)
			)
			for range 8 {
				wg.Go(func() {
					last := 0
					for !stop.Load() {
						got, err := c.Retrieve(context.Background())
						if err == nil {
							var gen int
							gen, err = genOf(got, "AKIAFILE")
							if err == nil && gen < last {
								err = fmt.Errorf("generation %d after %d", gen, last)
							}
							last = gen
							for {
								l := latest.Load()
								if int64(gen) <= l || latest.CompareAndSwap(l, int64(gen)) {
									break
								}
							}
						}
						if err != nil {
							failures <- err
							return
						}
						time.Sleep(100 * time.Microsecond)
					}
				})
			}
			const rotations = 5
			for gen := 2; gen <= rotations+1; gen++ {
				write(fileContent("app", gen))
				// A generous deadline: the test waits for a state, and a
				// loaded machine delays the poll that reaches it.
				deadline := time.Now().Add(time.Minute)
				for latest.Load() < int64(gen) && time.Now().Before(deadline) && len(failures) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				if latest.Load() < int64(gen) {
					t.Errorf("generation %d not picked up in a minute", gen)
					break
				}
			}
			stop.Store(true)
			wg.Wait()
			close(failures)
			for err := range failures {
				t.Error(err)
			}
			if st := c.Status(); st.Refreshes < rotations+1 || st.Failures != 0 {
				t.Errorf("Status = %+v, want %d refreshes and no failure", st, rotations+1)
			}
		})
	}
}

// TestCredentialsFileBrokenKeepsKeys: a file rewritten with garbage (or
// removed) leaves the held keys in use; the next good version is picked up.
func TestCredentialsFileBrokenKeepsKeys(t *testing.T) {
	isolateAWSEnv(t)
	path := filepath.Join(t.TempDir(), "credentials")
	writeFile(t, path, fileContent("default", 1))
	p, err := Resolve(context.Background(), Config{CredentialsFile: path})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	mustRetrieve(t, c)

	replaceFile(t, path, "[default]\naws_access_key_id = AKIAFILE000000002\n") // no secret yet
	waitFor(t, "the broken file to be tried", func() bool { return c.Status().Failures > 0 })
	if got, err := genOf(mustRetrieve(t, c), "AKIAFILE"); err != nil || got != 1 {
		t.Fatalf("with a broken file: generation %d, %v; want the held 1", got, err)
	}
	if !c.Ready() {
		t.Error("not ready with valid static keys held")
	}
	if st := c.Status(); strings.Contains(st.LastError, "secret") && strings.Contains(st.LastError, genSecret(1)) {
		t.Errorf("LastError leaks a secret: %q", st.LastError)
	}

	os.Remove(path)
	time.Sleep(50 * time.Millisecond)
	if got, err := genOf(mustRetrieve(t, c), "AKIAFILE"); err != nil || got != 1 {
		t.Fatalf("with the file gone: generation %d, %v; want the held 1", got, err)
	}

	writeFile(t, path, fileContent("default", 3))
	waitFor(t, "generation 3", func() bool {
		got, err := c.Retrieve(context.Background())
		gen, _ := genOf(got, "AKIAFILE")
		return err == nil && gen == 3
	})
}

// TestCredentialsFileInvalidateRereads: an upstream rejection makes the
// next Retrieve read the file again, even between polls.
func TestCredentialsFileInvalidateRereads(t *testing.T) {
	isolateAWSEnv(t)
	path := filepath.Join(t.TempDir(), "credentials")
	writeFile(t, path, fileContent("default", 1))
	p, err := Resolve(context.Background(), Config{CredentialsFile: path})
	if err != nil {
		t.Fatal(err)
	}
	opts := fastOptions(t)
	opts.PollInterval = time.Hour
	c := NewCache(p, opts)
	defer c.Close()
	first := mustRetrieve(t, c)
	replaceFile(t, path, fileContent("default", 2))
	c.Invalidate(first.AccessKeyID)
	if gen, err := genOf(mustRetrieve(t, c), "AKIAFILE"); err != nil || gen != 2 {
		t.Fatalf("after Invalidate: generation %d, %v; want 2", gen, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting a minute for %s (a generous deadline: the machine may be loaded)", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseCredentialsFile(t *testing.T) {
	for _, tc := range []struct {
		name, content, profile string
		want                   Credentials
		err                    string
	}{
		{
			name:    "default profile with session token",
			content: "[default]\naws_access_key_id=AKIAIOSFODNN7EXAMPLE\naws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\naws_session_token=IQoJb3JpZ2luX2Vj\n",
			profile: "default",
			want:    Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", SessionToken: "IQoJb3JpZ2luX2Vj"},
		},
		{
			name:    "chosen profile, CRLF, BOM, comments, spaces, upper-case keys, legacy token name",
			content: "\xef\xbb\xbf; comment\r\n[default]\r\naws_access_key_id = AKIADEFAULT00000000\r\naws_secret_access_key = d\r\n[ app ]\r\n# another\r\n  AWS_ACCESS_KEY_ID = AKIAAPP0000000000000  \r\nAWS_SECRET_ACCESS_KEY = s=with=equals\r\naws_security_token = legacy\r\n",
			profile: "app",
			want:    Credentials{AccessKeyID: "AKIAAPP0000000000000", SecretAccessKey: "s=with=equals", SessionToken: "legacy"},
		},
		{
			name:    "session token wins over the legacy name",
			content: "[p]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = s\naws_session_token = new\naws_security_token = old\n",
			profile: "p",
			want:    Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s", SessionToken: "new"},
		},
		{name: "missing profile", content: "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", profile: "app", err: "no [app] profile"},
		{name: "missing secret", content: "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", profile: "default", err: "has no aws_secret_access_key"},
		{name: "missing key id", content: "[default]\naws_secret_access_key = s\n", profile: "default", err: "has no aws_access_key_id"},
		{name: "not key = value", content: "[default]\nAKIAIOSFODNN7EXAMPLE topsecret\n", profile: "default", err: "line 2: want key = value"},
		{name: "unterminated section", content: "[default\n", profile: "default", err: "line 1: section header without ]"},
		{name: "bad key id", content: "[default]\naws_access_key_id = AKIA-bad\naws_secret_access_key = s\n", profile: "default", err: "aws_access_key_id"},
		{name: "space in secret", content: "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = top secret\n", profile: "default", err: "white space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCredentialsFile([]byte(tc.content), tc.profile)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				for _, secret := range []string{"topsecret", "top secret"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows a value from the file", err)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseCredentialsFile: any input either parses to a usable key pair
// or fails with an error that shows no value from the file.
func FuzzParseCredentialsFile(f *testing.F) {
	f.Add([]byte(fileContent("default", 1)), "default")
	f.Add([]byte("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = s3cr3t\n"), "default")
	f.Add([]byte("[a]\r\n[b\n=\n;x\n"), "a")
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		got, err := parseCredentialsFile(data, profile)
		if err != nil {
			if got != (Credentials{}) {
				t.Fatalf("error %v with a value", err)
			}
			return
		}
		if validateAccessKeyID(got.AccessKeyID) != nil || got.SecretAccessKey == "" ||
			strings.ContainsFunc(got.SecretAccessKey+got.SessionToken, isSpaceOrControl) {
			t.Fatalf("parsed an unusable value: %q", got.AccessKeyID)
		}
	})
}
