package sidecar

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// Router is the proxy with routes (--config): it picks each request's
// route from the route.Set in force and hands the request to that route's
// Proxy, which was built from the options as the route sets them
// (Config.ForRoute) and signs with the route's credential source. Each
// distinct credential source has its own Cache, shared by the routes that
// name it, so a failing source fails closed for its routes only.
//
// --body-memory-total and --spool-total hold for all routes together;
// --max-upstream-conns holds for each route's Proxy, which has its own
// connections.
//
// Use installs a new Set: the Proxies of routes whose options did not
// change are kept (and their connections), the others built afresh; a
// request that picked its route before keeps its Proxy to the end. Safe for
// concurrent use.
type Router struct {
	cfg  Config
	log  *slog.Logger
	base creds.Source // the top-level options' credentials
	// start starts the source of a route's own credentials.
	start func(creds.Config) (creds.Source, error)
	// setup is applied to every Proxy, built now or later.
	setup []func(*Proxy)
	tel   atomic.Pointer[telemetry.Telemetry]

	cur atomic.Pointer[routing]

	// clients authenticates the listener's clients (--client-ca-file,
	// --client-tokens-file), once for every route, before a route is
	// picked: a route's match.clients names who may use it. closeFiles
	// stops watching the listener's files.
	clients    *listen.Files
	closeFiles context.CancelFunc
	// tunnels serves CONNECT tunnels (tunnel.go); nil without the MITM CA.
	tunnels *tunnels

	// statsMu guards retired and the moment a Set is put in force, so
	// that the counts the metrics read from every route never go back.
	statsMu sync.Mutex
	// retired are the counts of the Proxies a reload replaced.
	retired struct {
		keyHits, keyMisses uint64
		rejections         map[string]uint64
	}

	mu      sync.Mutex // one Use at a time
	sources map[creds.Config]creds.Source
	// bodies and spools are --body-memory-total and --spool-total, one
	// budget for every route's requests, as without routes.
	bodies, spools *body.Budget
	// upgrades are every route's upgraded connections (upgrade.go).
	upgrades *upgradeSet
}

// routing is one Set with its Proxies; never changed once stored.
type routing struct {
	set     *route.Set
	proxies map[*route.Route]*Proxy
	byKey   map[string]*Proxy // for the next Set to reuse
	// sources names each route's credential source, for /readyz.
	sources map[*route.Route]creds.Source
}

var _ http.Handler = (*Router)(nil)

// NewRouter builds a Router on the top-level options cfg and the Set set.
// base is the top-level credential source (a route without credentials,
// or whose credentials equal the top-level ones, uses it); start starts a
// source for other credentials, nil for creds.Start with log. Close the
// Router when done.
func NewRouter(cfg Config, set *route.Set, base creds.Source, start func(creds.Config) (creds.Source, error), log *slog.Logger) (*Router, error) {
	return newRouter(cfg, set, base, start, log, 0)
}

// newRouter is NewRouter with the listener's files checked every
// reloadEvery (0: listen.DefaultReloadInterval).
func newRouter(cfg Config, set *route.Set, base creds.Source, start func(creds.Config) (creds.Source, error), log *slog.Logger, reloadEvery time.Duration) (*Router, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if start == nil {
		start = func(c creds.Config) (creds.Source, error) {
			cache, err := creds.Start(context.Background(), c, log.With("configured_as", route.CredentialsOf(c).String()))
			if err != nil {
				return nil, err
			}
			return cache, nil
		}
	}
	rt := &Router{cfg: cfg, log: log, base: base, start: start, sources: map[creds.Config]creds.Source{},
		bodies: body.NewBudget(int64(cfg.BodyMemoryTotal)), spools: body.NewBudget(int64(cfg.SpoolTotal)),
		upgrades: new(upgradeSet)}
	var ca *mitm.Authority
	var err error
	if rt.clients, ca, rt.closeFiles, err = openListenerFiles(cfg, log, reloadEvery); err != nil {
		return nil, err
	}
	if ca != nil {
		// One tunnels server for every route: a CONNECT is admitted by the
		// route its host takes, and each request inside picks its own.
		rt.tunnels = newTunnels(rt, ca, cfg, log)
		rt.setup = append(rt.setup, func(p *Proxy) { p.tunnels = rt.tunnels })
	}
	if err := rt.Use(set); err != nil {
		rt.closeFiles()
		if rt.tunnels != nil {
			rt.tunnels.srv.Close()
		}
		return nil, err
	}
	return rt, nil
}

// Routes returns the Set in force.
func (rt *Router) Routes() *route.Set { return rt.cur.Load().set }

// Use builds the Proxies of set's routes and puts set in force. On an error
// (a route whose options do not compile, a credential source that cannot
// be built) the Set in force stays.
func (rt *Router) Use(set *route.Set) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	old := rt.cur.Load()
	next := &routing{set: set, proxies: map[*route.Route]*Proxy{}, byKey: map[string]*Proxy{}, sources: map[*route.Route]creds.Source{}}
	var built []*Proxy
	used := map[creds.Config]bool{} // the credentials of set's routes
	for _, r := range set.Routes() {
		rc := rt.cfg.ForRoute(r)
		// The Router authenticates clients, and serves the listener's
		// files, for every route; a route's Proxy takes the client from
		// the request's context.
		rc.Listener = listen.Config{}
		src, err := rt.sourceFor(rc.Config, r)
		if err != nil {
			closeAll(built)
			return fmt.Errorf("route %q: credentials: %w", r.Name, err)
		}
		used[rc.Config] = true
		key := routeKey(r, rc)
		p := next.byKey[key]
		if p == nil && old != nil {
			p = old.byKey[key]
		}
		if p == nil {
			if p, err = New(rc, src, rt.log.With("route", r.Name)); err != nil {
				closeAll(built)
				return fmt.Errorf("route %q: %w", r.Name, err)
			}
			p.addHeaders = r.AddHeaders
			// Not yet serving: the budgets and the set of upgraded
			// connections (which a shutdown drains, whichever Proxy
			// switched them, replaced or not) can still be swapped.
			p.c.bodyBudget, p.c.spoolBudget = rt.bodies, rt.spools
			p.upgrades = rt.upgrades
			for _, f := range rt.setup {
				f(p)
			}
			built = append(built, p)
		}
		next.proxies[r], next.byKey[key], next.sources[r] = p, p, src
	}
	rt.statsMu.Lock()
	rt.cur.Store(next)
	var replaced []*Proxy
	if old != nil {
		for key, p := range old.byKey {
			if next.byKey[key] != p {
				replaced = append(replaced, p)
				rt.retire(p)
			}
		}
	}
	rt.statsMu.Unlock()
	rt.stopUnusedSources(used)
	for _, p := range replaced {
		// Idle connections only: requests in flight finish.
		p.Close()
	}
	return nil
}

// retire adds p's counts to the retired ones: p is no longer in force.
// Counts a request in flight on p adds later are not seen. Called with
// statsMu held.
func (rt *Router) retire(p *Proxy) {
	s := p.keys.Stats()
	rt.retired.keyHits += s.Hits
	rt.retired.keyMisses += s.Misses
	if rt.retired.rejections == nil {
		rt.retired.rejections = map[string]uint64{}
	}
	for cause, n := range p.SignatureRejections() {
		rt.retired.rejections[cause] += n
	}
}

// sourceFor returns the credential source of options whose credential
// part is c: the top-level one, or one per distinct c.
func (rt *Router) sourceFor(c creds.Config, r *route.Route) (creds.Source, error) {
	if r.Credentials == nil || c == rt.cfg.Config {
		return rt.base, nil
	}
	if src, ok := rt.sources[c]; ok {
		return src, nil
	}
	src, err := rt.start(c)
	if err != nil {
		return nil, err
	}
	rt.sources[c] = src
	return src, nil
}

// stopUnusedSources stops the sources whose credentials no route uses now, so that a
// role a reload removed is no longer refreshed. A request in flight that
// holds one still gets what it holds (creds.Cache.Close). Called with mu
// held.
func (rt *Router) stopUnusedSources(used map[creds.Config]bool) {
	for c, src := range rt.sources {
		if used[c] {
			continue
		}
		delete(rt.sources, c)
		if closer, ok := src.(io.Closer); ok {
			// Close waits for a fetch under way: not with mu held.
			go closer.Close()
		}
	}
}

// routeKey says what a route's Proxy is built from: two routes with the
// same key can share one.
func routeKey(r *route.Route, rc Config) string {
	return fmt.Sprintf("%s\x00%#v\x00%#v", r.Name, rc, r.AddHeaders)
}

func closeAll(ps []*Proxy) {
	for _, p := range ps {
		p.Close()
	}
}

// UseTelemetry makes every route's Proxy record metrics and spans with t.
// Call it before serving.
func (rt *Router) UseTelemetry(t *telemetry.Telemetry) {
	rt.tel.Store(t)
	rt.eachProxy(func(p *Proxy) { p.UseTelemetry(t) })
}

// OnSignatureRejected is Proxy.OnSignatureRejected for every route.
func (rt *Router) OnSignatureRejected(f func(awsCode, cause string)) {
	rt.eachProxy(func(p *Proxy) { p.OnSignatureRejected(f) })
}

// Observers read every route's Proxy (each has its own key cache,
// breakers and signature watcher): derived-key counts and signature
// rejections are summed over the Proxies in force and those a reload
// replaced, breaker states listed for all. The credential counts are the
// top-level source's, the clock offset the first route's.
func (rt *Router) Observers() telemetry.Observers {
	obs := telemetry.Observers{
		KeyCache: func() (hits, misses uint64) {
			rt.statsMu.Lock()
			defer rt.statsMu.Unlock()
			hits, misses = rt.retired.keyHits, rt.retired.keyMisses
			for _, p := range rt.cur.Load().byKey {
				s := p.keys.Stats()
				hits, misses = hits+s.Hits, misses+s.Misses
			}
			return hits, misses
		},
		SignatureRejections: func() map[string]uint64 {
			rt.statsMu.Lock()
			defer rt.statsMu.Unlock()
			out := maps.Clone(rt.retired.rejections)
			if out == nil {
				out = map[string]uint64{}
			}
			for _, p := range rt.cur.Load().byKey {
				for cause, n := range p.SignatureRejections() {
					out[cause] += n
				}
			}
			return out
		},
		BreakerStates: func() []telemetry.BreakerState {
			var out []telemetry.BreakerState
			for _, p := range rt.cur.Load().byKey {
				out = append(out, p.Observers().BreakerStates()...)
			}
			return out
		},
		ClockOffset: func() time.Duration {
			cur := rt.cur.Load()
			return cur.proxies[cur.set.Routes()[0]].clock.Offset()
		},
	}
	if st, ok := rt.base.(interface{ Status() creds.Status }); ok {
		obs.Credentials = func() telemetry.CredentialStats {
			s := st.Status()
			return telemetry.CredentialStats{Refreshes: s.Refreshes, Failures: s.Failures, Expires: s.Expires, CanExpire: s.CanExpire}
		}
	}
	return obs
}

// tunnelServer serves the requests inside CONNECT tunnels, with the Router
// as their handler; nil without the MITM CA.
func (rt *Router) tunnelServer() *tunnels { return rt.tunnels }

// listenerFiles are the Router's own: one listener for every route.
func (rt *Router) listenerFiles() *listen.Files { return rt.clients }

func (rt *Router) upgradeSet() *upgradeSet { return rt.upgrades }

// eachProxy applies f to every Proxy, now and as they are built.
func (rt *Router) eachProxy(f func(*Proxy)) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.setup = append(rt.setup, f)
	for _, p := range rt.cur.Load().byKey {
		f(p)
	}
}

// Close releases every Proxy's idle connections and stops the credential
// sources the Router started.
func (rt *Router) Close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.closeFiles()
	if rt.tunnels != nil {
		rt.tunnels.srv.Close()
	}
	for _, p := range rt.cur.Load().byKey {
		p.Close()
	}
	for _, src := range rt.sources {
		if c, ok := src.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// ServeHTTP authenticates r's client (when the listener does), picks r's
// route and serves r with its Proxy; or answers with the proxy's own error
// (401 client_unauthenticated, 403 no_route or client_not_allowed) without
// forwarding anything.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cur := rt.cur.Load()
	var client listen.Client
	var err error
	host := r.Host
	_, inTunnel := tunnelFrom(r.Context())
	if rt.clients.Config().Authenticates() {
		if rt.clients.Keys != nil && isClientSigned(r) {
			// clientkeys.go: the key names the client; the route's
			// Proxy verifies the signature before anything is sent (in
			// a tunnel too, whoever its CONNECT named).
			r, client, host, err = claimClientKey(r, rt.clients.Keys.Load())
		} else if inTunnel {
			// The tunnel's CONNECT was authenticated (tunnel.go): its
			// client is on the context. The request's own Authorization
			// is not a bearer token. A tunnel opened without a client
			// takes requests signed with a client key only.
			var named bool
			if client, named = listen.ClientFrom(r.Context()); !named {
				err = &listen.UnauthenticatedError{Reason: "the tunnel's CONNECT named no client: sign each request in it with a key of --client-keys-file"}
			}
		} else if client, err = rt.clients.Authenticate(r.TLS, r.Header); err == nil {
			// Authenticate removes the bearer token from r's headers,
			// matched or not.
			r = r.WithContext(listen.WithClient(r.Context(), client))
		} else if opensUnnamedTunnel(r, rt.tunnels != nil && rt.clients.Keys != nil, err) {
			// Its client is known only from the requests inside, each
			// verified and routed on its own: the CONNECT is admitted by
			// the route its host takes, whichever clients that admits.
			if picked := cur.set.Matching(host, r.URL.EscapedPath()); picked != nil {
				cur.proxies[picked].ServeHTTP(w, r)
				rt.tel.Load().RouteRequest(r.Context(), picked.Name, resultOf(w))
				return
			}
			err = &route.NoRouteError{Host: host, Path: r.URL.EscapedPath()}
		}
	}
	var picked *route.Route
	if err == nil {
		picked, err = cur.set.Pick(host, r.URL.EscapedPath(), client.Name)
	}
	if err != nil {
		if client.Via == listen.ViaClientKey {
			err = routeRefusalForSDK(r, err) // clientkeys.go
		}
		rt.refuse(w, r, cur, client, err, start)
		return
	}
	cur.proxies[picked].ServeHTTP(w, r)
	rt.tel.Load().RouteRequest(r.Context(), picked.Name, resultOf(w))
}

// resultOf is the route metric's result of a request a route's Proxy
// served: the Proxy marks its own answers; anything else was forwarded.
func resultOf(w http.ResponseWriter) string {
	if result := w.Header().Get(ErrorHeader); result != "" {
		return result
	}
	return telemetry.RouteForwarded
}

// refuse answers r with err, the Router's own refusal, logs it and counts
// it: under the route r's host and path would take were its client
// admitted ("" when none would: no_route), and under its client.
func (rt *Router) refuse(w http.ResponseWriter, r *http.Request, cur *routing, client listen.Client, err error, start time.Time) {
	var rw http.ResponseWriter = w
	if ci, ok := r.Context().Value(smugglingKey{}).(*connInspector); ok {
		// The Proxy admits each request it serves (framing.go); one
		// answered here must be admitted too, or the inspector's records
		// and the connection's requests fall out of step.
		if ferr := ci.admit(r.Method, r.RequestURI); ferr != nil {
			err, rw = ferr, closeAfter{w}
		}
	}
	status, code := writeError(rw, err)
	var name string
	log := rt.log
	if m := cur.set.Matching(r.Host, r.URL.EscapedPath()); m != nil {
		name, log = m.Name, log.With("route", m.Name)
	}
	telemetry.LogRequest(r.Context(), log, telemetry.RequestLog{Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Status: status, Duration: time.Since(start), ErrorCode: code, Client: client.Name})
	tel := rt.tel.Load()
	tel.RouteRequest(r.Context(), name, code)
	switch {
	case code == CodeClientUnauthenticated:
		tel.ClientRequest(r.Context(), "", true)
	case code == CodeClientNotAllowed:
		tel.ClientNotAllowed(r.Context(), client.Name)
	case client.Name != "":
		tel.ClientRequest(r.Context(), client.Name, false)
	}
}

// NotReady says which routes cannot sign now, each with its source's
// reason, or nil when every route can. Used by /readyz.
func (rt *Router) NotReady() map[string]string {
	cur := rt.cur.Load()
	out := map[string]string{}
	for _, r := range cur.set.Routes() {
		src := cur.sources[r]
		if rd, ok := src.(interface{ Ready() bool }); !ok || rd.Ready() {
			continue
		}
		reason := "no unexpired credentials yet"
		if nr, ok := src.(interface{ NotReady() error }); ok {
			if err := nr.NotReady(); err != nil {
				reason = err.Error()
			}
		}
		out[r.Name] = reason
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// RouteNames lists the routes in force, in order.
func (rt *Router) RouteNames() []string {
	var out []string
	for _, r := range rt.cur.Load().set.Routes() {
		out = append(out, r.Name)
	}
	return out
}

// describeNotReady writes NotReady as one line: "team-a: reason; team-b: reason".
func describeNotReady(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + m[n]
	}
	return strings.Join(parts, "; ")
}
