package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// brokenSource is a credential source that never has credentials, as a
// Cache whose role cannot be assumed.
type brokenSource struct{}

func (brokenSource) Retrieve(context.Context) (creds.Credentials, error) {
	return creds.Credentials{}, errors.Join(creds.ErrNoCredentials, errors.New("AssumeRole: AccessDenied"))
}
func (brokenSource) Invalidate(string) {}
func (brokenSource) Ready() bool       { return false }
func (brokenSource) NotReady() error   { return errors.New("role team-c: AccessDenied") }

// startRouter serves a Router on the routes of yaml, whose routes' own
// credentials come from sources by profile name.
func startRouter(t *testing.T, cfg Config, yaml string, sources map[string]creds.Source) (*httptest.Server, *Router, *logBuffer) {
	t.Helper()
	set, err := compileRoutes(t, cfg, yaml)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	start := func(c creds.Config) (creds.Source, error) {
		src, ok := sources[c.Profile]
		if !ok {
			return nil, errors.New("no test source for profile " + c.Profile)
		}
		return src, nil
	}
	rt, err := NewRouter(cfg, set, newStaticSource(), start, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() {
		srv.Close()
		rt.Close()
		for _, secret := range []string{testSecret, testToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log:\n%s", logs.String())
			}
		}
	})
	return srv, rt, logs
}

func routesYAML(upstream string) string {
	return `
routes:
  - name: team-a
    match: {path: /team-a}
    upstream: ` + upstream + `
    add-headers: {X-Team: a}
  - name: team-b
    match: {path: /team-b}
    upstream: ` + upstream + `
    strip-headers: [x-team]
    credentials: {profile: b}
  - name: team-c
    match: {path: /team-c}
    upstream: ` + upstream + `
    credentials: {profile: c}
`
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestRoutesSignWithTheirOwnCredentials: each route's requests reach the
// upstream signed with its own source's keys (verified), with its own
// headers; a request no route takes is answered 403 no_route and nothing
// is forwarded; a route whose source fails answers 503 alone.
func TestRoutesSignWithTheirOwnCredentials(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	b := newStaticSource()
	b.c.AccessKeyID = testKeyID2
	srv, _, logs := startRouter(t, cfg, routesYAML(up.URL), map[string]creds.Source{"b": b, "c": brokenSource{}})

	resp, body := get(t, srv.URL+"/team-a/k", "X-Team", "spoofed")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("team-a: %d %s", resp.StatusCode, body)
	}
	got := up.last(t)
	if got.VerifyErr != nil || got.KeyID != testKeyID || got.Path != "/team-a/k" {
		t.Errorf("team-a reached the upstream as %s %s, verify error %v; want key %s", got.Path, got.KeyID, got.VerifyErr, testKeyID)
	}
	if got.Header.Get("X-Team") != "a" || !strings.Contains(got.Header.Get("Authorization"), "x-team") {
		t.Errorf("team-a's add-headers: X-Team %q, Authorization %q; want a, signed", got.Header.Get("X-Team"), got.Header.Get("Authorization"))
	}

	resp, body = get(t, srv.URL+"/team-b/k", "X-Team", "b")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("team-b: %d %s", resp.StatusCode, body)
	}
	got = up.last(t)
	if got.VerifyErr != nil || got.KeyID != testKeyID2 || got.Path != "/team-b/k" {
		t.Errorf("team-b reached the upstream as %s %s, verify error %v; want key %s", got.Path, got.KeyID, got.VerifyErr, testKeyID2)
	}
	if _, ok := got.Header["X-Team"]; ok {
		t.Errorf("team-b's strip-headers: X-Team reached the upstream")
	}

	before := up.count()
	resp, body = get(t, srv.URL+"/team-z/k")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != CodeNoRoute ||
		!strings.Contains(body, `path \"/team-z/k\"`) || !strings.Contains(body, strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("no route: %d %s %s; want 403 no_route naming host and path", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	resp, body = get(t, srv.URL+"/team-c/k")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(ErrorHeader) != CodeNoCredentials {
		t.Errorf("team-c, whose source fails: %d %s %s; want 503 credentials_unavailable", resp.StatusCode, resp.Header.Get(ErrorHeader), body)
	}
	if up.count() != before {
		t.Errorf("the upstream received %d requests for no route and a failing source, want none", up.count()-before)
	}
	if !strings.Contains(logs.String(), `"route":"team-a"`) || !strings.Contains(logs.String(), `"route":"team-b"`) || !strings.Contains(logs.String(), `"error_code":"no_route"`) {
		t.Errorf("the request lines do not carry the route name:\n%s", logs.String())
	}
}

// TestReadyzNamesRoutesWithoutCredentials: one route's failing source does
// not take the gateway out of service; /readyz names the route and why.
func TestReadyzNamesRoutesWithoutCredentials(t *testing.T) {
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	b := newStaticSource()
	_, rt, _ := startRouter(t, cfg, routesYAML("http://127.0.0.1:9"), map[string]creds.Source{"b": b, "c": brokenSource{}})
	admin := &Admin{Credentials: newStaticSource(), Routes: rt}
	rec := httptest.NewRecorder()
	admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body struct {
		Status         string
		RoutesNotReady map[string]string `json:"routes_not_ready"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || body.Status != "ready" || body.RoutesNotReady["team-c"] != "role team-c: AccessDenied" || len(body.RoutesNotReady) != 1 {
		t.Errorf("/readyz %d %s; want 200 naming team-c alone", rec.Code, rec.Body.String())
	}

	// Every route failing: 503.
	only, err := compileRoutes(t, cfg, "routes:\n  - name: team-c\n    upstream: http://127.0.0.1:9\n    credentials: {profile: c}\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Use(only); err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "no route has credentials: team-c: role team-c: AccessDenied") {
		t.Errorf("/readyz with every route failing: %d %s", rec.Code, rec.Body.String())
	}
}

// TestRouterUseKeepsRequestsOnTheirRoutes: a new Set takes the next
// requests; a route whose options did not change keeps its Proxy.
func TestRouterUseKeepsRequestsOnTheirRoutes(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	srv, rt, _ := startRouter(t, cfg, routesYAML(up.URL), map[string]creds.Source{"b": newStaticSource(), "c": brokenSource{}})
	oldA := rt.cur.Load().proxies[rt.Routes().Routes()[0]]

	next, err := compileRoutes(t, cfg, routesYAML(up.URL)+"  - name: team-z\n    match: {path: /team-z}\n    upstream: "+up.URL+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Use(next); err != nil {
		t.Fatal(err)
	}
	if rt.cur.Load().proxies[next.Routes()[0]] != oldA {
		t.Errorf("team-a's options did not change, but its Proxy was rebuilt")
	}
	if resp, body := get(t, srv.URL+"/team-z/k"); resp.StatusCode != http.StatusOK {
		t.Errorf("the new route: %d %s", resp.StatusCode, body)
	}
}

// TestServerReloadsRoutes: serve with --config re-reads its routes on
// request (SIGHUP); a bad file is refused with one ERROR line and the
// routes in force stay.
func TestServerReloadsRoutes(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	cfg.ConfigFile = filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(content string) { t.Helper(); writeAtomically(t, cfg.ConfigFile, content) }
	teamA := "routes:\n  - name: team-a\n    match: {path: /team-a}\n    upstream: " + up.URL + "\n"
	teamB := "  - name: team-b\n    match: {path: /team-b}\n    upstream: " + up.URL + "\n"
	write(teamA)
	logs := &logBuffer{}
	reload := make(chan struct{})
	addrs := make(chan [2]string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Config: cfg, Credentials: newStaticSource(), Log: slog.New(slog.NewJSONHandler(logs, nil)),
		Reload: reload, RoutesInterval: time.Hour,
		Telemetry: &telemetry.Options{Version: "test", Getenv: func(string) string { return "" }},
		Listening: func(p, a net.Addr) { addrs <- [2]string{p.String(), a.String()} }}
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var proxyAddr, adminAddr string
	select {
	case a := <-addrs:
		proxyAddr, adminAddr = a[0], a[1]
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	status := func(path string) int {
		resp, _ := get(t, "http://"+proxyAddr+path)
		return resp.StatusCode
	}
	if status("/team-a/k") != http.StatusOK || status("/team-b/k") != http.StatusForbidden {
		t.Fatalf("at start: team-a %d, team-b %d; want 200 and 403", status("/team-a/k"), status("/team-b/k"))
	}
	write(teamA + teamB)
	reload <- struct{}{}
	waitUntil(t, "team-b routed", func() bool { return status("/team-b/k") == http.StatusOK })

	write(teamA + teamB + "  - name: team-c\n    pyload: signed\n")
	reload <- struct{}{}
	waitUntil(t, "the refusal logged", func() bool { return strings.Contains(logs.String(), `"level":"ERROR"`) })
	if n := strings.Count(logs.String(), `"level":"ERROR"`); n != 1 || !strings.Contains(logs.String(), `gateway.yaml:9: route \"team-c\": pyload: unknown field`) {
		t.Errorf("%d ERROR lines, want one naming the file, line, route and field:\n%s", n, logs.String())
	}
	if a, b := status("/team-a/k"), status("/team-b/k"); a != http.StatusOK || b != http.StatusOK {
		t.Errorf("after a bad file the last good routes must stay: team-a %d, team-b %d\n%s", a, b, logs.String())
	}
	if code, _ := get(t, "http://"+adminAddr+"/readyz"); code.StatusCode != http.StatusOK {
		t.Errorf("/readyz %d", code.StatusCode)
	}
	// The metrics carry the route name, and the result.
	counted := func(route, result string) bool {
		_, metrics := get(t, "http://"+adminAddr+"/metrics")
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, telemetry.MetricRouteRequests+"{") && strings.Contains(line, `route="`+route+`"`) && strings.Contains(line, `result="`+result+`"`) {
				return true
			}
		}
		return false
	}
	waitUntil(t, "the route metrics", func() bool {
		return counted("team-a", telemetry.RouteForwarded) && counted("team-b", telemetry.RouteForwarded) && counted("", CodeNoRoute)
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRoutesShareTheBodyBudgets: --body-memory-total and --spool-total are
// one budget for every route, not one per route.
func TestRoutesShareTheBodyBudgets(t *testing.T) {
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	cfg.BodyMemoryTotal, cfg.SpoolTotal = 1<<20, 8<<20
	_, rt, _ := startRouter(t, cfg, routesYAML("http://127.0.0.1:9"), map[string]creds.Source{"b": newStaticSource(), "c": brokenSource{}})
	cur := rt.cur.Load()
	var first *Proxy
	for _, r := range rt.Routes().Routes() {
		p := cur.proxies[r]
		if first == nil {
			first = p
			continue
		}
		if p == first || p.c.bodyBudget != first.c.bodyBudget || p.c.spoolBudget != first.c.spoolBudget {
			t.Errorf("route %s: its own Proxy must draw on the routes' one body and spool budget", r.Name)
		}
	}
}

// TestWarnRoutesWithBroadAllowHosts: the start-time warning about an
// allow-list holding a whole AWS DNS suffix names each host-mode route it
// concerns, and no fixed route.
func TestWarnRoutesWithBroadAllowHosts(t *testing.T) {
	cfg := testConfig()
	set, err := compileRoutes(t, cfg, `
routes:
  - name: wide
    allow-hosts: ["*.amazonaws.com"]
    match: {path: /w}
  - name: narrow
    allow-hosts: ["sqs.eu-west-1.amazonaws.com"]
    match: {path: /n}
  - name: fixed
    upstream: https://sqs.eu-west-1.amazonaws.com
`)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	warnRoutes(slog.New(slog.NewJSONHandler(logs, nil)), cfg, set)
	if !strings.Contains(logs.String(), `"route":"wide"`) || strings.Contains(logs.String(), `"route":"narrow"`) || strings.Contains(logs.String(), `"route":"fixed"`) {
		t.Errorf("warnings:\n%s\nwant one, for route wide", logs.String())
	}
}

// TestRouteClientsAdmitOnlyTheirClients: a route's match.clients admits
// the clients the listener authenticated (a certificate's SPIFFE ID, a
// token's name) by glob. A known client on a route that does not admit it
// gets 403 client_not_allowed, the proxy's own answer, and the upstream
// receives nothing; a client without a credential gets 401. Refusals are
// logged with the route and the client and counted by route and result, and
// by client and result.
func TestRouteClientsAdmitOnlyTheirClients(t *testing.T) {
	up := newUpstream(t)
	serverCA, clientCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca")
	serving := serverCA.serverCert(t)
	const tokenB = "tok-route-b-5e1f0c2a9d"
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = write("tls.crt", serving.certPEM), write("tls.key", serving.keyPEM)
	cfg.Listener.ClientCAFile = write("ca.crt", clientCA.pem)
	cfg.Listener.ClientTokensFile = write("tokens", tokensFile("app-b", tokenB))
	cfg.ConfigFile = write("gateway.yaml", []byte(`
routes:
  - name: team-a
    match: {path: /team-a, clients: ["spiffe://cluster.local/ns/team-a/sa/*"]}
  - name: team-b
    match: {path: /team-b, clients: [app-b]}
  - name: open
    match: {path: /open}
`))
	addr, admin, logs := runListenerWith(t, cfg, &telemetry.Options{Getenv: func(string) string { return "" }})
	appA := clientCA.clientCert(t, "spiffe://cluster.local/ns/team-a/sa/app")
	asA, anonymous := tlsClient(serverCA, "http2", appA.tls), tlsClient(serverCA, "http1")
	do := func(c *http.Client, path, token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	for _, admitted := range []struct {
		client      *http.Client
		path, token string
	}{{asA, "/team-a/k", ""}, {anonymous, "/team-b/k", tokenB}, {asA, "/open/k", ""}, {anonymous, "/open/k", tokenB}} {
		resp, body := do(admitted.client, admitted.path, admitted.token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s, want 200", admitted.path, resp.StatusCode, body)
		}
		if got := up.last(t); got.VerifyErr != nil || got.Path != admitted.path || got.Header.Get("Authorization") == "Bearer "+tokenB {
			t.Errorf("%s reached the upstream as %s, verify error %v, Authorization %q", admitted.path, got.Path, got.VerifyErr, got.Header.Get("Authorization"))
		}
	}

	before := up.count()
	for _, refused := range []struct {
		client      *http.Client
		path, token string
		name        string
	}{{asA, "/team-b/k", "", "spiffe://cluster.local/ns/team-a/sa/app"}, {anonymous, "/team-a/k", tokenB, "app-b"}} {
		resp, body := do(refused.client, refused.path, refused.token)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != CodeClientNotAllowed ||
			!strings.Contains(body, `client \"`+refused.name+`\" may not use`) || !strings.Contains(body, refused.path) {
			t.Errorf("%s for %s: %d %s %s; want 403 client_not_allowed naming the client and path", refused.path, refused.name, resp.StatusCode, resp.Header.Get(ErrorHeader), body)
		}
	}
	resp, _ := do(anonymous, "/team-a/k", "")
	wantUnauthenticated(t, resp, nil)
	resp, _ = do(anonymous, "/open/k", "tok-not-in-the-file")
	wantUnauthenticated(t, resp, nil)
	if n := up.count() - before; n != 0 {
		t.Errorf("the upstream received %d requests the router refused", n)
	}

	untilTrue(t, "the refusal's log line", func() bool {
		return strings.Contains(logs.String(), `"route":"team-b"`) && strings.Contains(logs.String(), `"error_code":"client_not_allowed"`)
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"error_code":"client_not_allowed"`) && strings.Contains(line, `"path":"/team-b/k"`) &&
			(!strings.Contains(line, `"route":"team-b"`) || !strings.Contains(line, `"client":"spiffe://cluster.local/ns/team-a/sa/app"`)) {
			t.Errorf("the refusal's line does not name the route and the client: %s", line)
		}
	}
	if strings.Contains(logs.String(), tokenB) {
		t.Errorf("a bearer token reached the log")
	}
	var text string
	untilTrue(t, "the refusals in /metrics", func() bool {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text = string(b)
		return strings.Contains(text, telemetry.MetricRouteRequests+`{result="client_not_allowed",route="team-b"}`) &&
			strings.Contains(text, telemetry.MetricRouteRequests+`{result="client_not_allowed",route="team-a"}`) &&
			strings.Contains(text, telemetry.MetricRouteRequests+`{result="client_unauthenticated",route="team-a"}`) &&
			strings.Contains(text, telemetry.MetricRouteRequests+`{result="forwarded",route="open"}`) &&
			strings.Contains(text, `sigv4_sidecar_client_requests_total{client="app-b",result="client_not_allowed"}`) &&
			strings.Contains(text, `sigv4_sidecar_client_requests_total{client="app-b",result="admitted"}`)
	})
	if strings.Contains(text, "tok-") {
		t.Errorf("a token reached /metrics")
	}
}

// TestRouteClientsNeedClientAuthentication: a route that admits named
// clients on a listener that names none would refuse every request: it is
// refused at start, naming the file, the route and the field.
func TestRouteClientsNeedClientAuthentication(t *testing.T) {
	_, err := compileRoutes(t, testConfig(), "routes:\n  - name: team-a\n    upstream: https://s3.us-east-1.amazonaws.com\n    match: {clients: [app-a]}\n")
	if err == nil || !strings.Contains(err.Error(), `gateway.yaml:`) || !strings.Contains(err.Error(), `route "team-a": match.clients: "app-a": the listener authenticates no client`) {
		t.Errorf("error %v; want the file, route team-a and match.clients named", err)
	}
}

// TestRouterInFlightRequestsFinishOnTheirRoutes: a request that picked its
// route before a new Set was put in force finishes on that route, though
// the new Set replaced the route's Proxy (its upstream changed); the next
// request takes the new route.
func TestRouterInFlightRequestsFinishOnTheirRoutes(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "old upstream")
	}))
	t.Cleanup(old.Close)
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "new upstream")
	}))
	t.Cleanup(next.Close)
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	routeTo := func(up string) string { return "routes:\n  - name: team-a\n    upstream: " + up + "\n" }
	srv, rt, _ := startRouter(t, cfg, routeTo(old.URL), nil)

	type answer struct {
		status int
		body   string
		err    error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/team-a/k")
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		inFlight <- answer{resp.StatusCode, string(body), err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the first request never reached its upstream")
	}
	set, err := compileRoutes(t, cfg, routeTo(next.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Use(set); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, srv.URL+"/team-a/k")
	close(release)
	if resp.StatusCode != http.StatusOK || body != "new upstream" {
		t.Errorf("a request after the new routes: %d %q, want the new upstream's answer", resp.StatusCode, body)
	}
	got := <-inFlight
	if got.err != nil || got.status != http.StatusOK || got.body != "old upstream" {
		t.Errorf("the request in flight: %d %q %v, want it finished on its old route's upstream", got.status, got.body, got.err)
	}
}

// TestServerReloadRefusesHostileFiles: a reload of a malformed file, of a
// route with an unknown field, of duplicate route names, of a bad client
// glob or of an unknown option is refused with one ERROR line naming the
// file (and the line, route and field where there is one), and the last
// good routes stay in force.
func TestServerReloadRefusesHostileFiles(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	cfg.ConfigFile = filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(content string) { t.Helper(); writeAtomically(t, cfg.ConfigFile, content) }
	good := "routes:\n  - name: team-a\n    match: {path: /team-a}\n    upstream: " + up.URL + "\n"
	write(good)
	logs := &logBuffer{}
	reload := make(chan struct{})
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Config: cfg, Credentials: newStaticSource(), Log: slog.New(slog.NewJSONHandler(logs, nil)),
		Reload: reload, RoutesInterval: time.Hour,
		Listening: func(p, _ net.Addr) { ready <- p.String() }}
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"malformed", good + "   match: {hosts: [x]\n", `gateway.yaml: not valid YAML`},
		{"unknown field", good + "    pyload: signed\n", `gateway.yaml:5: route \"team-a\": pyload: unknown field`},
		{"duplicate names", good + "  - name: team-a\n    match: {path: /team-b}\n", `gateway.yaml:5: route \"team-a\": name: duplicate: route 1 (line 2) has the same name`},
		{"bad client glob", good + "  - name: team-b\n    match: {clients: [\"spiffe://x/[\"]}\n", `gateway.yaml:6: route \"team-b\": match.clients: \"spiffe://x/[\": bad glob pattern`},
		{"unknown option", "lissten: 127.0.0.1:9000\n" + good, `gateway.yaml:1: lissten: unknown option`},
		{"no file", "", `gateway.yaml: cannot read`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(logs.String(), `"level":"ERROR"`)
			if tc.name == "no file" {
				if err := os.Remove(cfg.ConfigFile); err != nil {
					t.Fatal(err)
				}
			} else {
				write(tc.content)
			}
			reload <- struct{}{}
			waitUntil(t, "the refusal", func() bool { return strings.Count(logs.String(), `"level":"ERROR"`) > before })
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			var errorLines []string
			for _, l := range lines {
				if strings.Contains(l, `"level":"ERROR"`) {
					errorLines = append(errorLines, l)
				}
			}
			if n := len(errorLines) - before; n != 1 || !strings.Contains(errorLines[len(errorLines)-1], tc.want) {
				t.Errorf("%d new ERROR lines, want one with %s:\n%s", n, tc.want, strings.Join(errorLines[before:], "\n"))
			}
			if resp, body := get(t, "http://"+addr+"/team-a/k"); resp.StatusCode != http.StatusOK {
				t.Errorf("after the refusal, team-a: %d %s; want the last good routes in force", resp.StatusCode, body)
			}
		})
	}
}

// TestRoutesWithEqualCredentialsShareOneSource: routes whose credentials
// are equal share one source (one cache, one rotation), a route with other
// credentials gets its own, and a new Set keeps the sources it still uses.
func TestRoutesWithEqualCredentialsShareOneSource(t *testing.T) {
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	started := map[string]int{}
	closed := make(chan string, 4)
	start := func(c creds.Config) (creds.Source, error) {
		started[c.Profile]++
		return &closingSource{newStaticSource(), func() { closed <- c.Profile }}, nil
	}
	yaml := routesYAML("http://127.0.0.1:9") + "  - name: team-d\n    match: {path: /team-d}\n    upstream: http://127.0.0.1:9\n    credentials: {profile: b}\n"
	set, err := compileRoutes(t, cfg, yaml)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewRouter(cfg, set, newStaticSource(), start, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	src := func(name string) creds.Source {
		cur := rt.cur.Load()
		for _, r := range cur.set.Routes() {
			if r.Name == name {
				return cur.sources[r]
			}
		}
		t.Fatalf("no route %s", name)
		return nil
	}
	if src("team-b") != src("team-d") || src("team-b") == src("team-c") || src("team-a") != rt.base {
		t.Errorf("team-b and team-d (profile b) must share one source, team-c (profile c) have its own, team-a the top-level one")
	}
	if started["b"] != 1 || started["c"] != 1 {
		t.Errorf("sources started: %v, want one per distinct credentials", started)
	}
	next, err := compileRoutes(t, cfg, yaml)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Use(next); err != nil {
		t.Fatal(err)
	}
	if started["b"] != 1 || started["c"] != 1 {
		t.Errorf("after a reload with the same credentials, sources started: %v, want none anew", started)
	}
	// A reload without profile c's routes stops its source; bringing one
	// back starts a new one.
	withoutC, err := compileRoutes(t, cfg, strings.Replace(yaml, "credentials: {profile: c}", "credentials: {profile: b}", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Use(withoutC); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-closed:
		if p != "c" {
			t.Errorf("the source of profile %s was stopped, want c's", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the source no route uses was not stopped")
	}
	if err := rt.Use(next); err != nil {
		t.Fatal(err)
	}
	if started["b"] != 1 || started["c"] != 2 {
		t.Errorf("sources started: %v, want profile c's started anew after it was unused", started)
	}
}

// closingSource is a source that says when it is closed.
type closingSource struct {
	creds.Source
	onClose func()
}

func (s *closingSource) Close() error { s.onClose(); return nil }

// TestRouterMetricsReadEveryRoute: the observers the metrics read count
// the derived-key lookups of every route's Proxy, not the first route's
// alone, and a reload that replaces a route's Proxy does not take its
// counts back.
func TestRouterMetricsReadEveryRoute(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	srv, rt, _ := startRouter(t, cfg, routesYAML(up.URL), map[string]creds.Source{"b": newStaticSource(), "c": brokenSource{}})
	obs := rt.Observers()
	total := func() uint64 { h, m := obs.KeyCache(); return h + m }
	if resp, body := get(t, srv.URL+"/team-b/k"); resp.StatusCode != http.StatusOK {
		t.Fatalf("team-b: %d %s", resp.StatusCode, body)
	}
	before := total()
	if before == 0 {
		t.Fatalf("a request on the second route left no derived-key lookup in the observers")
	}
	// team-b's options change: its Proxy is replaced.
	next, err := compileRoutes(t, cfg, strings.Replace(routesYAML(up.URL), "strip-headers: [x-team]", "strip-headers: [x-other]", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Use(next); err != nil {
		t.Fatal(err)
	}
	if after := total(); after < before {
		t.Errorf("derived-key lookups went from %d to %d when a reload replaced the route's Proxy", before, after)
	}
}
