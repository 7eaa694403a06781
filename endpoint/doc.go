// Package endpoint resolves an AWS host name to the signing name and region a
// request to it must be signed with, from a table generated from botocore's
// endpoint, partition and service data plus rules for hosts that data does not
// list (S3 virtual-hosted and path-style, access points, execute-api, Lambda
// function URLs, VPC endpoints, ...). One host always gives the same answer.
// The few hosts that must be signed with SigV4a (S3 Multi-Region Access
// Points, CloudFront KeyValueStore, EventBridge global endpoints) resolve to
// a region set instead of a region (sigv4a.go). SigningFor applies the
// service, region and region set overrides to that answer; it is the one
// lookup the proxy and the commands that sign as it does share (ScopeFor is
// it without a region set). PayloadRuleFor says what a signing name's
// service demands of the payload hash: X-Amz-Content-Sha256,
// UNSIGNED-PAYLOAD, aws-chunked (payload.go, each row with its AWS page).
package endpoint
