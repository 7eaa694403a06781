package sidecar

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
)

// S3 Express One Zone session authentication
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-create-session.html,
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateSession.html):
// most requests to a directory bucket's Zonal endpoint are signed, as
// s3express, with the keys of a session that a CreateSession call on the
// bucket (GET /?session, signed with the proxy's own credentials) returns,
// and carry the session's token in x-amz-s3session-token instead of
// x-amz-security-token. Sessions last five minutes; the proxy keeps one per
// bucket and per base credentials (creds.Sessions), makes it on the first
// request that needs it, and replaces it ahead of its expiry.

// expressTokenHeader carries an S3 Express session token, signed.
const expressTokenHeader = "X-Amz-S3session-Token"

// CodeExpressSession is ExpressSessionError's code: CreateSession was
// refused, so no request on the bucket can be signed.
const CodeExpressSession = "express_session_failed"

// SessionBucket returns the S3 Express directory bucket whose session signs
// r on route (its Service, and SignHost or else Host), or "" when r is
// signed with the proxy's own credentials: every request that is not for a
// Zonal endpoint, and the Zonal endpoint operations AWS authorizes with IAM
// credentials, not with a session. It reads r's method, URL and headers.
// Exported so that commands that sign as the proxy does (explain) say
// when it would use a session. Safe for concurrent use.
func SessionBucket(r *http.Request, route Route) string {
	if route.Service != "s3express" {
		return "" // --service chose another signing name
	}
	host := route.SignHost
	if host == "" {
		host = route.Host
	}
	e, ok := endpoint.ExpressHost(host)
	if !ok || e.Bucket == "" || !usesSession(r) {
		return ""
	}
	return e.Bucket
}

// usesSession reports whether r, sent to a directory bucket's Zonal
// endpoint, is an operation a CreateSession session authorizes: every
// object operation but CopyObject and UploadPartCopy, whose
// x-amz-copy-source AWS authorizes with IAM credentials
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html),
// and, on the bucket itself, ListObjectsV2, ListMultipartUploads and
// DeleteObjects. The rest of what the bucket root takes is signed with the
// proxy's credentials: CreateSession itself, HeadBucket (HEAD /), and the
// bucket-level operations the Regional endpoint serves (CreateBucket PUT /,
// DeleteBucket, ?policy, ?encryption, ?lifecycle, ...), which AWS refuses
// here either way, with a clearer answer for a plain signature.
func usesSession(r *http.Request) bool {
	if _, ok := r.Header["X-Amz-Copy-Source"]; ok {
		return false
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		return true
	}
	keys := map[string]bool{}
	for _, part := range strings.Split(r.URL.RawQuery, "&") {
		if key, _, _ := strings.Cut(part, "="); key != "" {
			keys[key] = true
		}
	}
	switch r.Method {
	case http.MethodGet:
		allowed := listObjectsParams
		if keys["uploads"] {
			allowed = listUploadsParams
		}
		for key := range keys {
			if !allowed[key] {
				return false
			}
		}
		return true
	case http.MethodPost:
		return len(keys) == 1 && keys["delete"]
	}
	return false
}

// The query parameters of ListObjectsV2 and ListMultipartUploads
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html,
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html);
// x-id is what SDKs add to name the operation.
var (
	listObjectsParams = map[string]bool{"list-type": true, "prefix": true, "delimiter": true, "continuation-token": true,
		"start-after": true, "max-keys": true, "encoding-type": true, "fetch-owner": true, "x-id": true}
	listUploadsParams = map[string]bool{"uploads": true, "prefix": true, "delimiter": true, "key-marker": true,
		"upload-id-marker": true, "max-uploads": true, "encoding-type": true, "x-id": true}
)

// credentials returns the keys req is signed with: the proxy's own, or, for
// a request the route gives a directory bucket, the bucket's session, whose
// token it sets in X-Amz-S3session-Token on req (so the keys returned carry
// none, and the signer sends no X-Amz-Security-Token). Errors are typed for
// errorResponse: a *CredentialsError when the proxy has no usable
// credentials, an *ExpressSessionError when no session could be made.
func (t *RequestSigner) credentials(req *http.Request, x *exchange) (creds.Credentials, error) {
	ctx := req.Context()
	base, err := t.Credentials.Retrieve(ctx)
	if err != nil {
		return creds.Credentials{}, &CredentialsError{Err: err}
	}
	if x.route.ExpressBucket == "" || t.sessions == nil {
		return base, nil
	}
	route := x.route
	session, err := t.sessions.Get(ctx, route.ExpressBucket, base, func(ctx context.Context, _ creds.Credentials) (creds.Credentials, error) {
		return t.createSession(ctx, route)
	})
	if err != nil {
		var sessionErr *ExpressSessionError
		if !errors.As(err, &sessionErr) {
			// The caller's context ended, or creds.Sessions refused what
			// CreateSession returned.
			err = &ExpressSessionError{Bucket: route.ExpressBucket, Err: err}
		}
		return creds.Credentials{}, err
	}
	req.Header[expressTokenHeader] = []string{session.SessionToken}
	session.SessionToken = ""
	return session, nil
}

// invalidate drops credentials c, which an upstream has just rejected: the
// bucket's session when the request was signed with one, else the proxy's
// own key.
func (t *RequestSigner) invalidate(x *exchange, c creds.Credentials) {
	if x.route.ExpressBucket != "" && t.sessions != nil {
		t.sessions.Invalidate(x.route.ExpressBucket, c.AccessKeyID)
		return
	}
	t.Credentials.Invalidate(c.AccessKeyID)
}

// createSessionResult is the body of a CreateSession answer.
type createSessionResult struct {
	Credentials struct {
		AccessKeyID     string    `xml:"AccessKeyId"`
		SecretAccessKey string    `xml:"SecretAccessKey"`
		SessionToken    string    `xml:"SessionToken"`
		Expiration      time.Time `xml:"Expiration"`
	} `xml:"Credentials"`
}

// createSessionLimit bounds what is read of a CreateSession answer: the
// credentials are well under 4 KiB.
const createSessionLimit = 64 << 10

// newSessionCreator returns what makes a directory bucket's session for
// the signer: a CreateSession call sent down the whole outbound chain, so
// that it is signed with the proxy's credentials, retried, traced and
// counted as any request; the route it goes on is the one of the request
// that needed the session, less the session.
func (p *Proxy) newSessionCreator() func(ctx context.Context, route Route) (creds.Credentials, error) {
	return func(ctx context.Context, route Route) (creds.Credentials, error) {
		bucket := route.ExpressBucket
		route.ExpressBucket = ""
		path := "/"
		if p.c.upstream != nil {
			path = joinBasePath(p.c.upstream.EscapedPath(), "/")
		}
		u := &url.URL{Scheme: route.Scheme, Host: route.Host, RawQuery: "session"}
		setWirePath(u, path)
		req, err := http.NewRequestWithContext(withExchange(ctx, &exchange{route: route}), http.MethodGet, u.String(), nil)
		if err != nil {
			return creds.Credentials{}, &ExpressSessionError{Bucket: bucket, Err: err}
		}
		if route.SignHost != "" {
			req.Host = route.SignHost
		}
		req.Header["User-Agent"] = []string{""} // as rewrite: none of net/http's
		resp, err := p.rp.Transport.RoundTrip(req)
		if err != nil {
			return creds.Credentials{}, &ExpressSessionError{Bucket: bucket, Err: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, createSessionLimit))
		if err != nil {
			return creds.Credentials{}, &ExpressSessionError{Bucket: bucket, Err: fmt.Errorf("reading the CreateSession answer: %w", err)}
		}
		if resp.StatusCode != http.StatusOK {
			a := awserror.Read(resp.Header, body)
			return creds.Credentials{}, &ExpressSessionError{Bucket: bucket, Status: resp.StatusCode, Code: a.Code, Message: a.SafeMessage()}
		}
		var out createSessionResult
		err = xml.Unmarshal(body, &out)
		c := out.Credentials
		if err == nil && (c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expiration.IsZero()) {
			err = errors.New("it lacks AccessKeyId, SecretAccessKey, SessionToken or Expiration")
		}
		if err != nil {
			return creds.Credentials{}, &ExpressSessionError{Bucket: bucket, Status: resp.StatusCode, Err: fmt.Errorf("the answer is not a CreateSessionResult: %w", err)}
		}
		session := creds.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			Source: "s3express-session", CanExpire: true, Expires: c.Expiration}
		p.log.Debug("S3 Express session created", "bucket", bucket, "session", session)
		return session, nil
	}
}

// ExpressSessionError is a request on a directory bucket that could not be
// signed because CreateSession failed for the bucket. When AWS answered,
// the proxy answers with its status (anything but a 4xx, after the
// retries, as 502) and CodeExpressSession; otherwise Err says what failed
// (the upstream unreachable, no credentials, the client gone) and
// errorResponse maps it as it maps that error.
type ExpressSessionError struct {
	Bucket string
	// Status, Code and Message are AWS's answer to CreateSession; Status 0
	// when there was none.
	Status        int
	Code, Message string
	Err           error
}

func (e *ExpressSessionError) Error() string {
	if e.Status != 0 && e.Err != nil {
		return fmt.Sprintf("S3 Express CreateSession for bucket %q was answered %d, but %v", e.Bucket, e.Status, e.Err)
	}
	if e.Status != 0 {
		return fmt.Sprintf("S3 Express CreateSession for bucket %q was answered %d %s: %s", e.Bucket, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("S3 Express CreateSession for bucket %q failed: %v", e.Bucket, e.Err)
}

func (e *ExpressSessionError) Unwrap() error { return e.Err }

// status is the proxy's answer to a request whose session was refused: AWS's
// 4xx as it is (the bucket does not exist, access denied, ...), any other
// answer as 502.
func (e *ExpressSessionError) status() int {
	if e.Status >= 400 && e.Status < 500 {
		return e.Status
	}
	return http.StatusBadGateway
}
