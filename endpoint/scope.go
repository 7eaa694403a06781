package endpoint

import "fmt"

// ScopeFor returns the signing name and region a request to host is signed
// with: what Resolve says for host, each half replaced by service or region
// when that is not empty (the --service and --region overrides). Both set,
// the table is not consulted. When Resolve cannot place host and an
// override is missing, the error is a *ScopeError. It is SigningFor without
// a region set, for callers that need only the scope's names (metrics): a
// host that demands SigV4a gives an empty region, and only SigningFor says
// how to sign it. Safe for concurrent use.
func ScopeFor(host, service, region string) (signingName, signingRegion string, err error) {
	s, err := SigningFor(host, service, region, nil)
	return s.Service, s.Region, err
}

// ScopeError is a host Resolve has no signing name and region for, with no
// override to fill the half (or halves) it would have given.
type ScopeError struct {
	// Host is the host as given to ScopeFor.
	Host string
	// MissingService and MissingRegion say which override was not set.
	MissingService, MissingRegion bool
	// Err is Resolve's *UnknownHostError.
	Err error
}

func (e *ScopeError) Error() string {
	missing := "--service and --region"
	switch {
	case !e.MissingService:
		missing = "--region"
	case !e.MissingRegion:
		missing = "--service"
	}
	return fmt.Sprintf("cannot derive the AWS service and region from host %q: set %s", e.Host, missing)
}

func (e *ScopeError) Unwrap() error { return e.Err }
