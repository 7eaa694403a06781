// Package awserror reads what AWS (or an S3-compatible server) answered when
// it refused a request: the error code from the x-amzn-ErrorType header, the
// JSON or XML error document (possibly cut short, as callers read a bounded
// prefix), the one normalizer of error codes, and the code families the
// proxy acts on: throttling, credential rejection, signature rejection and
// clock skew.
//
// It is pure: it reads bytes and headers, keeps no state and imports nothing
// else from this module. What a rejection means for a signature (its causes
// and their fixes) is package diagnose's; what the proxy does about it
// (retry, breaker, credential refresh) is the HTTP side's.
package awserror
