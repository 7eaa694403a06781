package signer

// SigningError says why a request could not be signed: which input was
// wrong and how. Nothing is signed when it is returned, though headers
// already validated may have been left untouched.
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
