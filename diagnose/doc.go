// Package diagnose names what is wrong with a SigV4-signed request, for the
// proxy's logs and the command line: it judges
// a request or an Authorization header (Request, Authorization), reads the
// causes in what a server answered (Answer), and compares our canonical
// request with the one a server returned, line by line (CompareWithServer).
//
// It returns causes, each a stable code and a message stating what was
// found; it gives no advice and names no option or command: that is the
// caller's (the HTTP and CLI side keep one table of it). It reads strings and
// headers only, signs nothing and never needs a secret; messages and diffs
// never show a signature or a session token. It sits above packages signer
// (whose Authorization parser it uses), awserror and endpoint (whose payload
// table says which services require X-Amz-Content-Sha256), and imports
// nothing of the HTTP side.
//
// The causes and AWS's wording for them come from
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
// and from the error messages AWS services return (issue 8).
package diagnose
