// Package signer is a pure implementation of AWS Signature Version 4
// (AWS4-HMAC-SHA256): canonical requests, string to sign, signing-key
// derivation and its cache, header and query (presigned) signing, S3
// aws-chunked streaming signatures, and verification of signed requests.
//
// The package has no clock, fetches no credentials and runs no server:
// credentials and the signing time are arguments, which is what lets it be
// tested byte for byte against AWS's published test suites. It imports
// nothing else from this module.
package signer
