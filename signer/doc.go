// Package signer is a pure implementation of AWS Signature Version 4
// (AWS4-HMAC-SHA256) and of SigV4a (AWS4-ECDSA-P256-SHA256): canonical
// requests, string to sign, signing-key derivation and its cache, header and
// query (presigned) signing, S3 aws-chunked streaming signatures,
// verification of signed requests, and the one reader of a request's
// signature parameters (ParseAuthorization, ParsePresigned), which reports
// what is malformed by kind. What a rejection means and what to do about it
// is package diagnose's.
//
// The package has no clock, fetches no credentials and runs no server:
// credentials and the signing time are arguments, which is what lets it be
// tested byte for byte against AWS's published test suites. It imports
// nothing else from this module.
//
// SigV4a is selected per request with the same Credentials and the same
// calls: Options.Algorithm = SigV4a, and Options.RegionSet the regions the
// signature is valid in ({"*"} for all; empty means {Options.Region}).
// Sign sets and signs X-Amz-Region-Set, Presign puts it in the query;
// the scope is date/service/aws4_request; the signature is a randomized
// ECDSA P-256 signature (hex of its DER). The key is derived from the access
// key and secret as the SigV4a specification says and cached in the
// KeyCache beside the SigV4 keys (KeyCache.SigV4aStats). Verify accepts
// either algorithm; for SigV4a, VerifyOptions.Region must be in the signed
// region set. aws-chunked streaming stays SigV4-only: SignStreaming and
// VerifyStreaming refuse SigV4a chunks with a clear error.
package signer
