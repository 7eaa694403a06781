package resilience

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
)

// ErrorPrefixLimit is how many bytes of an upstream error body Classify reads
// to find the AWS error code. AWS error documents are a few hundred bytes;
// anything longer is passed on unread.
const ErrorPrefixLimit = 4 << 10

// Outcome is what an upstream answer means for the breaker and the retries.
type Outcome struct {
	// Status is the HTTP status code.
	Status int
	// Code is the AWS error code ("SlowDown", "ThrottlingException"), from the
	// x-amzn-ErrorType header, the JSON __type/code or the XML <Code>, else
	// the X-Amz-Error-Code header, without decorations (awserror.Read);
	// empty when the answer carries none.
	Code string
	// Message is the AWS error message, when the body has one.
	Message string
	// Throttled reports a throttling answer: 429, or a throttling error code
	// (awserror.IsThrottling).
	Throttled bool
	// Skewed reports that the upstream rejected the signing time:
	// RequestTimeTooSkewed, "Signature expired", "Signature not yet current"
	// (awserror.IsClockSkew).
	Skewed bool
	// ServerTime is the upstream's clock from an S3 <ServerTime>, when given.
	ServerTime time.Time
}

// Failed reports whether the answer counts against the upstream's health:
// 5xx or throttling. A skewed signature is our clock's fault, not the
// upstream's, and other 4xx are the client's.
func (o Outcome) Failed() bool {
	return o.Status >= 500 || o.Throttled
}

// Classify reads what resp says about the upstream. For an error status it
// reads at most ErrorPrefixLimit bytes of the body to find the AWS error code,
// then puts them back: resp.Body is replaced by a reader that yields the same
// bytes, so the client receives the body untouched. resp.Body must not be in
// use by anyone else. A read error is kept and returned by the restored body.
// The layers of the proxy's chain ask Exchange.Outcome, which classifies each
// answer once.
func Classify(resp *http.Response) (o Outcome) {
	o = Outcome{Status: resp.StatusCode}
	if resp.StatusCode < 400 {
		return o
	}
	var prefix []byte
	if resp.Body != nil && resp.Body != http.NoBody {
		var err error
		prefix, err = io.ReadAll(io.LimitReader(resp.Body, ErrorPrefixLimit))
		resp.Body = &replayedBody{prefix: bytes.NewReader(prefix), err: err, rest: resp.Body}
	}
	answer := awserror.Read(resp.Header, prefix)
	o.Code, o.Message, o.ServerTime = answer.Code, answer.Message, answer.ServerTime
	o.Throttled = resp.StatusCode == http.StatusTooManyRequests || awserror.IsThrottling(o.Code)
	o.Skewed = awserror.IsClockSkew(o.Code, o.Message)
	return o
}

// replayedBody yields the prefix Classify read, then the read error it met
// (if any), then the rest of the original body.
type replayedBody struct {
	prefix *bytes.Reader
	err    error
	rest   io.ReadCloser
}

func (b *replayedBody) Read(p []byte) (int, error) {
	if b.prefix.Len() > 0 {
		return b.prefix.Read(p)
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rest.Read(p)
}

func (b *replayedBody) Close() error { return b.rest.Close() }

// upstreamDate returns the upstream's clock from resp's Date header, or from
// o.ServerTime when the header is missing or unreadable.
func upstreamDate(resp *http.Response, o Outcome) (time.Time, error) {
	if d := resp.Header.Get("Date"); d != "" {
		if t, err := http.ParseTime(d); err == nil {
			return t, nil
		}
	}
	if !o.ServerTime.IsZero() {
		return o.ServerTime, nil
	}
	return time.Time{}, errors.New("upstream sent no usable Date header")
}
