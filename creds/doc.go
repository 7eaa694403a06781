// Package creds owns where AWS credentials come from (environment, shared
// config and credentials files with SSO and credential_process, web
// identity, EKS Pod Identity and ECS container endpoints, IMDSv2,
// assume-role, a watched credentials file) and how they rotate: refreshed
// ahead of expiry in the background, one fetch at a time, the last good
// value kept when a refresh fails. The proxy only ever asks it for the
// current value.
//
// Load builds a Source from a Config and fails without credentials; Start
// builds the same *Cache and returns it even when the first fetch fails. The
// proxy uses it so:
//
//   - Retrieve for every request. An error wraps ErrNoCredentials (an
//     *ExpiredError once the held credentials have expired and the source
//     keeps failing): answer 503, fail closed.
//   - Ready and NotReady for /readyz, Status for metrics; Close at shutdown.
//   - When the upstream answers with an error code
//     awserror.IsCredentialRejection accepts, Invalidate the access key id
//     the request was signed with, then Retrieve again (it waits for the new
//     credentials) and retry once if the body can be replayed.
//
// Resolve and NewCache are the two halves of Load, for tests and for
// callers that bring their own Provider.
//
// Sessions holds the short-lived session credentials a service issues per
// resource in exchange for a call signed with the base credentials (S3
// Express One Zone's CreateSession, per directory bucket): it knows nothing
// of HTTP; the caller says how a session is made.
package creds
