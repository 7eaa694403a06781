package endpoint

import "fmt"

// ScopeFor returns the signing name and region a request to host is signed
// with: what Resolve says for host, each half replaced by service or region
// when that is not empty (the --service and --region overrides). Both set,
// the table is not consulted. It is the one lookup the proxy makes per
// request in host mode and once at start in fixed mode, and the one the
// commands that sign as the proxy does (explain, check, presign) call. When
// Resolve cannot place host and an override is missing, the error is a
// *ScopeError. Safe for concurrent use.
func ScopeFor(host, service, region string) (signingName, signingRegion string, err error) {
	if service != "" && region != "" {
		return service, region, nil
	}
	ep, err := Resolve(host)
	if err != nil {
		return "", "", &ScopeError{Host: host, MissingService: service == "", MissingRegion: region == "", Err: err}
	}
	if service == "" {
		service = ep.SigningName
	}
	if region == "" {
		region = ep.Region
	}
	return service, region, nil
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
