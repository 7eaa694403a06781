package telemetry

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MetricClientRequests counts requests by authenticated client.
const MetricClientRequests = "sigv4_sidecar_client_requests_total"

// MaxLabelledClients bounds the client identities that get a label value of
// their own; later ones are counted under LabelOther. Identities come from
// the operator's files (a token's NAME, a certificate the client CA
// signed), never from what an unauthenticated client sends.
const MaxLabelledClients = 256

// Result label values of MetricClientRequests.
const (
	ClientAdmitted        = "admitted"
	ClientUnauthenticated = "client_unauthenticated"
	// ClientNotAllowed: a known client that no route taking the request
	// admits (--config, a route's match.clients).
	ClientNotAllowed = "client_not_allowed"
)

var (
	keyClient = attribute.Key("client")
	keyResult = attribute.Key("result")
)

// clientMetrics counts requests by client; its label values are bounded.
// Safe for concurrent use.
type clientMetrics struct {
	requests metric.Int64Counter

	mu      sync.Mutex
	labels  map[[2]string]metric.AddOption // by client and result
	clients map[string]bool                // the client label values given
}

func (c *clientMetrics) init(m metric.Meter) error {
	var err error
	c.requests, err = m.Int64Counter("sigv4_sidecar_client_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests on a listener that authenticates clients, by client identity (a token's name or a certificate's identity; other past the first 256) and result: admitted, client_unauthenticated (client empty), or client_not_allowed (no route takes the request for this client, --config)."))
	c.labels, c.clients = map[[2]string]metric.AddOption{}, map[string]bool{}
	return err
}

func (c *clientMetrics) option(client, result string) metric.AddOption {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.clients[client] {
		if len(c.clients) >= MaxLabelledClients {
			client = LabelOther
		}
		c.clients[client] = true
	}
	key := [2]string{client, result}
	if o, ok := c.labels[key]; ok {
		return o
	}
	o := metric.WithAttributeSet(attribute.NewSet(keyClient.String(client), keyResult.String(result)))
	c.labels[key] = o
	return o
}

// ClientRequest counts one request on a listener that authenticates
// clients: admitted for client, or refused as unauthenticated.
func (t *Telemetry) ClientRequest(ctx context.Context, client string, unauthenticated bool) {
	if t == nil {
		return
	}
	result := ClientAdmitted
	if unauthenticated {
		client, result = "", ClientUnauthenticated
	}
	t.clients.requests.Add(ctx, 1, t.clients.option(client, result))
}

// ClientNotAllowed counts one request of an authenticated client that no
// route taking it admits (403 client_not_allowed).
func (t *Telemetry) ClientNotAllowed(ctx context.Context, client string) {
	if t == nil {
		return
	}
	t.clients.requests.Add(ctx, 1, t.clients.option(client, ClientNotAllowed))
}
