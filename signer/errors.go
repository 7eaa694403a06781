package signer

// SigningError says why a request could not be signed: which input was
// wrong and how. When it is returned the request carries no new signature
// and no header the signer would have set; at most, stale spellings of
// those headers (e.g. a lowercase "x-amz-date" map key) have been removed.
type SigningError struct {
	// Field names the input: "credentials", "service", "region", "time",
	// "payload hash", "host", "chunk size", "trailer", ...
	Field string
	// Reason says what is wrong with it, in words.
	Reason string
}

func (e *SigningError) Error() string {
	return "sigv4: cannot sign: " + e.Field + ": " + e.Reason
}

func errField(field, reason string) error { return &SigningError{Field: field, Reason: reason} }
