package resilience

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
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
	// the X-Amz-Error-Code header, without decorations (creds.ErrorCodeName);
	// empty when the answer carries none.
	Code string
	// Message is the AWS error message, when the body has one.
	Message string
	// Throttled reports a throttling answer: 429, or a throttling error code.
	Throttled bool
	// Skewed reports that the upstream rejected the signing time:
	// RequestTimeTooSkewed, "Signature expired", "Signature not yet current".
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

// throttlingCodes are the codes aws-sdk-go-v2 treats as throttling
// (aws/retry/throttle_error.go, DefaultThrottleErrorCodes).
var throttlingCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"TransactionInProgressException":         true,
	"RequestLimitExceeded":                   true,
	"BandwidthLimitExceeded":                 true,
	"LimitExceededException":                 true,
	"RequestThrottled":                       true,
	"SlowDown":                               true,
	"PriorRequestNotComplete":                true,
	"EC2ThrottledException":                  true,
}

// IsThrottlingCode reports whether code is an AWS throttling error code.
func IsThrottlingCode(code string) bool { return throttlingCodes[code] }

// isSkewMessage matches the messages AWS sends when the signing time is out
// of its window: S3's RequestTimeTooSkewed code, and the query and JSON
// protocols' "Signature expired: ... is now earlier than ..." and
// "Signature not yet current: ... is still later than ..." messages
// (InvalidSignatureException, SignatureDoesNotMatch).
func isSkew(code, message string) bool {
	return code == "RequestTimeTooSkewed" ||
		strings.Contains(message, "Signature expired") ||
		strings.Contains(message, "Signature not yet current")
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
	o.Code = creds.ErrorCodeName(resp.Header.Get("X-Amzn-Errortype"))
	if resp.Body != nil && resp.Body != http.NoBody {
		prefix, err := io.ReadAll(io.LimitReader(resp.Body, ErrorPrefixLimit))
		resp.Body = &replayedBody{prefix: bytes.NewReader(prefix), err: err, rest: resp.Body}
		code, message, serverTime := parseErrorDocument(prefix)
		if o.Code == "" {
			o.Code = code
		}
		o.Message = message
		o.ServerTime = serverTime
	}
	if o.Code == "" {
		// REST answers whose code is in neither X-Amzn-ErrorType nor a body
		// (a HEAD has none) may carry it in X-Amz-Error-Code.
		o.Code = creds.ErrorCodeName(resp.Header.Get("X-Amz-Error-Code"))
	}
	o.Throttled = resp.StatusCode == http.StatusTooManyRequests || IsThrottlingCode(o.Code)
	o.Skewed = isSkew(o.Code, o.Message)
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

// parseErrorDocument finds the code, message and (S3) server time in a
// possibly truncated XML or JSON error body. It tokenizes instead of
// unmarshalling so that a cut-off document still yields what it holds.
func parseErrorDocument(b []byte) (code, message string, serverTime time.Time) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "", "", time.Time{}
	case b[0] == '{':
		code, message = parseJSONError(b)
		return code, message, time.Time{}
	case b[0] == '<':
		return parseXMLError(b)
	}
	return "", "", time.Time{}
}

func parseJSONError(b []byte) (code, message string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth := 0
	var key string
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return creds.ErrorCodeName(code), message
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
				expectKey = t == '{'
			} else {
				depth--
				expectKey = depth > 0
			}
			key = ""
			continue
		case string:
			if depth == 1 && expectKey {
				key = t
				expectKey = false
				continue
			}
			if depth == 1 {
				switch strings.ToLower(key) {
				case "__type", "code":
					if code == "" {
						code = t
					}
				case "message", "errormessage":
					if message == "" {
						message = t
					}
				}
			}
		}
		if depth == 1 {
			expectKey = true
			key = ""
		}
	}
}

func parseXMLError(b []byte) (code, message string, serverTime time.Time) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	var element string
	for {
		tok, err := dec.Token()
		if err != nil {
			return code, message, serverTime
		}
		switch t := tok.(type) {
		case xml.StartElement:
			element = t.Name.Local
		case xml.EndElement:
			element = ""
		case xml.CharData:
			text := strings.TrimSpace(string(t))
			switch element {
			case "Code":
				if code == "" {
					code = text
				}
			case "Message":
				if message == "" {
					message = text
				}
			case "ServerTime":
				if st, err := time.Parse(time.RFC3339, text); err == nil {
					serverTime = st
				}
			}
		}
	}
}

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
