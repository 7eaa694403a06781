package endpoint

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// HostFor returns the AWS endpoint host that serves signingName in region:
// what a request signed for that scope goes to when its own Host names no
// AWS endpoint (an SDK pointed at the proxy with AWS_ENDPOINT_URL). The
// partition comes from the region. It picks, among the table's hosts for
// that signing name and region (FIPS and dual-stack variants left out), the
// regional host of the service whose endpoint prefix is the signing name
// (s3.us-east-1.amazonaws.com, not s3-control nor the global s3.amazonaws.com;
// dynamodb, not streams.dynamodb), else that service's only host (the
// global iam.amazonaws.com), else the only host signing with that name
// (email.us-east-1.amazonaws.com for ses). When several remain (bedrock,
// bedrock-runtime, ...: all signed as bedrock) the scope does not say which
// one the client meant, and the answer is an error naming them. A region no
// partition knows is an error too. Safe for
// concurrent use.
//
// The table lists some FIPS hosts under keys of their own
// (bedrock-fips-us-east-1), not as variants: any host with "fips" in it is
// left out as well.
func HostFor(signingName, region string) (string, error) {
	if p := regionPartition(region, compiled()); p == nil {
		return "", fmt.Errorf("region %q is in no AWS partition", region)
	}
	if signingName == "execute-api" {
		// API Gateway's hosts are per API ({api-id}.execute-api.REGION...);
		// the table's only other execute-api host is Connect's.
		return "", fmt.Errorf("service execute-api (API Gateway) has a host per API ({api-id}.execute-api.%s...): the signature does not say which", region)
	}
	cands := byScope()[signingName+" "+region]
	if len(cands) == 0 {
		return "", fmt.Errorf("the endpoint table has no host for service %q in region %q", signingName, region)
	}
	var exact, hostsOf []string
	for _, c := range cands {
		if c.service == signingName && c.key == region {
			return c.host, nil
		}
		if c.service == signingName {
			exact = append(exact, c.host)
		}
		hostsOf = append(hostsOf, c.host)
	}
	switch {
	case len(exact) == 1:
		return exact[0], nil // a global endpoint: iam.amazonaws.com
	case len(exact) > 1:
		hostsOf = exact
	case len(hostsOf) == 1:
		return hostsOf[0], nil // a service whose prefix is not its signing name
	}
	return "", fmt.Errorf("service %q in region %q is served by several endpoints (%s): the signature does not say which", signingName, region, strings.Join(hostsOf, ", "))
}

// scopeHost is one table host with the botocore service and endpoint key
// it came from.
type scopeHost struct{ host, service, key string }

// byScope indexes the table's hosts by "signingName region", leaving out
// FIPS and dual-stack variants, in host order.
var byScope = sync.OnceValue(func() map[string][]scopeHost {
	m := map[string][]scopeHost{}
	hs := hosts()
	names := make([]string, 0, len(hs))
	for h := range hs {
		names = append(names, h)
	}
	slices.Sort(names)
	for _, h := range names {
		e := hs[h]
		rule, ok := strings.CutPrefix(e.Rule, "botocore:")
		if !ok || strings.Contains(rule, "+") || strings.Contains(h, "fips") {
			continue
		}
		service, key, _ := strings.Cut(rule, "/")
		k := e.SigningName + " " + e.Region
		m[k] = append(m[k], scopeHost{host: h, service: service, key: key})
	}
	return m
})
