package credstest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// MetadataStandIn is a loopback server standing in for the EC2 metadata
// address as it is off EC2. Start starts it for the rest of t and returns
// its URL and, where it can count them, how many times it was asked for
// credentials (nil otherwise).
type MetadataStandIn struct {
	Name  string
	Start func(t testing.TB) (url string, credentialReads func() int)
}

// OffEC2 are the ways the metadata address behaves where there is no EC2
// metadata service: nothing answers (a black hole), the port refuses, or
// another cloud's metadata server answers 404 to EC2's paths.
var OffEC2 = []MetadataStandIn{
	{"silent", silentMetadataAddress},
	{"refusing", refusingMetadataAddress},
	{"answering 404", notFoundMetadataAddress},
}

// UseMetadataAddress turns instance metadata back on (IsolateEnvironment
// turns it off) and points the SDK's client at url instead of
// 169.254.169.254, for the rest of t.
func UseMetadataAddress(t testing.TB, url string) {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
}

// silentMetadataAddress accepts connections and never answers. Its count
// is of the connections after the first: the first carries IMDSv2's token
// request, which fails once for the process, and every later request the
// SDK gives up on takes its connection with it.
func silentMetadataAddress(t testing.TB) (string, func() int) {
	l := listen(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns) - 1
	}
}

// refusingMetadataAddress is a loopback port nothing listens on.
func refusingMetadataAddress(t testing.TB) (string, func() int) {
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr, nil
}

// notFoundMetadataAddress answers 404 to everything; its count is of the
// reads of the instance profile's role.
func notFoundMetadataAddress(t testing.TB) (string, func() int) {
	var mu sync.Mutex
	var roleReads int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/meta-data/iam/security-credentials/" {
			mu.Lock()
			roleReads++
			mu.Unlock()
		}
		http.NotFound(w, r)
	}))
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, func() int {
		mu.Lock()
		defer mu.Unlock()
		return roleReads
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// CaptureStderr runs f with os.Stderr writing into a pipe, where the AWS
// SDK's default logger prints, and returns what was written. Not for
// parallel tests.
func CaptureStderr(t testing.TB, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stderr = saved }()
	f()
	os.Stderr = saved
	w.Close()
	return <-done
}
