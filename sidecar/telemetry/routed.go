package telemetry

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MetricRouteRequests counts requests by route (--config).
const MetricRouteRequests = "sigv4_sidecar_route_requests_total"

// RouteForwarded is the result label of a request its route forwarded
// (whatever the upstream answered); any other result is the proxy's own
// error code (no_route, credentials_unavailable, ...).
const RouteForwarded = "forwarded"

// MaxLabelledRouteNames bounds the routes with a label value of their own
// (route names come from the operator's file; a reload may bring new ones).
const MaxLabelledRouteNames = 256

var (
	keyRoute       = attribute.Key("route")
	keyRouteResult = attribute.Key("result")
)

// routeMetrics counts requests by route and result; its label values are
// bounded. Safe for concurrent use.
type routeMetrics struct {
	requests metric.Int64Counter

	mu     sync.Mutex
	labels map[[2]string]metric.AddOption
	routes map[string]bool
}

func (r *routeMetrics) init(m metric.Meter) error {
	var err error
	r.requests, err = m.Int64Counter("sigv4_sidecar_route_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests by route (--config; empty for a request no route takes; other past the first 256 names) and result: forwarded, or the proxy's own error code (no_route, client_not_allowed, credentials_unavailable, ...)."))
	r.labels, r.routes = map[[2]string]metric.AddOption{}, map[string]bool{}
	return err
}

func (r *routeMetrics) option(route, result string) metric.AddOption {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.routes[route] {
		if len(r.routes) >= MaxLabelledRouteNames {
			route = LabelOther
		}
		r.routes[route] = true
	}
	key := [2]string{route, result}
	if o, ok := r.labels[key]; ok {
		return o
	}
	o := metric.WithAttributeSet(attribute.NewSet(keyRoute.String(route), keyRouteResult.String(result)))
	r.labels[key] = o
	return o
}

// RouteRequest counts one request of route ("" when none took it) with its
// result: RouteForwarded, or the proxy's error code.
func (t *Telemetry) RouteRequest(ctx context.Context, route, result string) {
	if t == nil {
		return
	}
	t.routed.requests.Add(ctx, 1, t.routed.option(route, result))
}
