package sidecar

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
)

// Admin serves the admin listener: GET /healthz (the process is alive),
// GET /readyz (it can sign: credentials retrieved and unexpired) and
// GET /metrics. It lives on its own listener so that no proxied path is ever
// shadowed. Safe for concurrent use; set its fields before serving.
type Admin struct {
	// Credentials is what /readyz checks.
	Credentials creds.Source
	// Routes, when set (--config), is checked instead: /readyz answers
	// 503 only when no route can sign, and names the routes whose
	// credentials fail.
	Routes interface {
		NotReady() map[string]string
		RouteNames() []string
	}
	// Metrics serves /metrics; nil answers 404 until telemetry fills it.
	Metrics http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	stopping atomic.Bool
}

// Stopping makes /readyz answer 503 from now on, whatever the credentials:
// the process has been asked to stop, and Kubernetes should take it out of
// its Service's endpoints while it still serves (--shutdown-delay). Safe for
// concurrent use.
func (a *Admin) Stopping() { a.stopping.Store(true) }

var _ http.Handler = (*Admin)(nil)

func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case "/readyz":
		a.ready(w, r)
	case "/metrics":
		if a.Metrics == nil {
			http.Error(w, "metrics are not enabled", http.StatusNotFound)
			return
		}
		a.Metrics.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// ready answers 200 only when credentials can be retrieved now and have not
// expired. The message names the source or the reason, never a key.
func (a *Admin) ready(w http.ResponseWriter, r *http.Request) {
	if a.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": "shutting down"})
		return
	}
	if a.Routes != nil {
		a.routesReady(w)
		return
	}
	if a.Credentials == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": "no credentials source"})
		return
	}
	if rd, ok := a.Credentials.(interface{ Ready() bool }); ok && !rd.Ready() {
		reason := "no unexpired credentials yet"
		// A Cache says why: the source and its last fetch error, as a
		// request's 503 does (no secret: creds keeps them out of errors).
		if nr, ok := a.Credentials.(interface{ NotReady() error }); ok {
			if err := nr.NotReady(); err != nil {
				reason = err.Error()
			}
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	c, err := a.Credentials.Retrieve(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if c.Expired(now()) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": "credentials from " + c.Source + " expired at " + c.Expires.UTC().Format(time.RFC3339)})
		return
	}
	body := map[string]string{"status": "ready", "credentials_source": c.Source}
	if c.CanExpire {
		body["credentials_expire"] = c.Expires.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, body)
}

// routesReady answers /readyz with routes: 200 while any route can sign,
// with the routes that cannot and why under routes_not_ready; 503 when
// none can. One tenant's broken role must not take the gateway out of its
// Service for every other tenant.
func (a *Admin) routesReady(w http.ResponseWriter) {
	failing := a.Routes.NotReady()
	body := map[string]any{"status": "ready", "routes": len(a.Routes.RouteNames())}
	status := http.StatusOK
	if len(failing) > 0 {
		body["routes_not_ready"] = failing
		if len(failing) == len(a.Routes.RouteNames()) {
			status = http.StatusServiceUnavailable
			body["status"] = "not ready"
			body["reason"] = "no route has credentials: " + describeNotReady(failing)
		}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
