package resilience

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func response(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

func TestClassify(t *testing.T) {
	serverTime := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		status        int
		header        http.Header
		body          string
		code          string
		throttled     bool
		skewed        bool
		failed        bool
		wantServerTim bool
	}{
		{name: "ok", status: 200, body: `<Code>SlowDown</Code>`},
		{name: "s3 slowdown", status: 503, body: `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>`,
			code: "SlowDown", throttled: true, failed: true},
		{name: "query throttling 400", status: 400, body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>`,
			code: "Throttling", throttled: true, failed: true},
		{name: "ec2 request limit", status: 503, body: `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>`,
			code: "RequestLimitExceeded", throttled: true, failed: true},
		{name: "json __type with namespace", status: 400, header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
			body: `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`,
			code: "ThrottlingException", throttled: true, failed: true},
		{name: "json code field", status: 400, body: `{"code":"TooManyRequestsException","Message":"slow down"}`,
			code: "TooManyRequestsException", throttled: true, failed: true},
		{name: "x-amzn-ErrorType header wins", status: 400,
			header: http.Header{"X-Amzn-Errortype": {"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"}},
			body:   `{"message":"Rate exceeded","__type":"Other"}`, code: "ThrottlingException", throttled: true, failed: true},
		{name: "429 without body", status: 429, throttled: true, failed: true},
		{name: "500 without code", status: 500, failed: true},
		{name: "404 is the client's", status: 404, body: `<Error><Code>NoSuchKey</Code></Error>`, code: "NoSuchKey"},
		{name: "access denied", status: 403, body: `{"__type":"AccessDeniedException","Message":"no"}`, code: "AccessDeniedException"},
		{name: "s3 skew", status: 403, body: `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>20261122T130000Z</RequestTime><ServerTime>2026-11-22T14:00:00Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>`,
			code: "RequestTimeTooSkewed", skewed: true, wantServerTim: true},
		{name: "json signature expired", status: 400, body: `{"__type":"InvalidSignatureException","message":"Signature expired: 20261122T130000Z is now earlier than 20261122T135500Z (20261122T140000Z - 5 min.)"}`,
			code: "InvalidSignatureException", skewed: true},
		{name: "query signature not yet current", status: 403, body: `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>Signature not yet current: 20261122T150000Z is still later than 20261122T140500Z (20261122T140000Z + 5 min.)</Message></Error></ErrorResponse>`,
			code: "SignatureDoesNotMatch", skewed: true},
		{name: "truncated json keeps what it has", status: 400, body: `{"__type":"ThrottlingException","message":"Rate exc`,
			code: "ThrottlingException", throttled: true, failed: true},
		{name: "truncated xml keeps what it has", status: 503, body: `<Error><Code>SlowDown</Code><Message>Please red`,
			code: "SlowDown", throttled: true, failed: true},
		{name: "nested json value skipped", status: 400, body: `{"details":{"code":"Nope"},"__type":"SlowDown"}`,
			code: "SlowDown", throttled: true, failed: true},
		{name: "html error page", status: 502, body: `<html><body>Bad Gateway</body></html>`, failed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := response(tc.status, tc.header, tc.body)
			o := Classify(resp)
			if o.Code != tc.code || o.Throttled != tc.throttled || o.Skewed != tc.skewed || o.Failed() != tc.failed {
				t.Errorf("Classify = code %q throttled %v skewed %v failed %v; want %q %v %v %v",
					o.Code, o.Throttled, o.Skewed, o.Failed(), tc.code, tc.throttled, tc.skewed, tc.failed)
			}
			if tc.wantServerTim && !o.ServerTime.Equal(serverTime) {
				t.Errorf("ServerTime = %v, want %v", o.ServerTime, serverTime)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || string(got) != tc.body {
				t.Errorf("body after Classify = %q, %v; want it untouched: %q", got, err, tc.body)
			}
		})
	}
}

// A body longer than the prefix Classify reads reaches the client whole.
func TestClassifyRestoresLongBody(t *testing.T) {
	body := `<Error><Code>InternalError</Code><Message>` + strings.Repeat("x", 3*ErrorPrefixLimit) + `</Message></Error>`
	resp := response(500, nil, body)
	if o := Classify(resp); o.Code != "InternalError" {
		t.Errorf("Code = %q, want InternalError", o.Code)
	}
	got, _ := io.ReadAll(resp.Body)
	if string(got) != body {
		t.Errorf("restored body differs: %d bytes, want %d", len(got), len(body))
	}
}

type failingReader struct{ data []byte }

var errCut = errors.New("connection cut")

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errCut
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A read error met while classifying is handed to the client after the bytes
// that came before it, not swallowed.
func TestClassifyKeepsReadError(t *testing.T) {
	resp := &http.Response{StatusCode: 503, Header: http.Header{},
		Body: io.NopCloser(&failingReader{data: []byte("<Error><Code>Slow")})}
	Classify(resp)
	got, err := io.ReadAll(resp.Body)
	if string(got) != "<Error><Code>Slow" || !errors.Is(err, errCut) {
		t.Errorf("ReadAll = %q, %v; want the prefix then %v", got, err, errCut)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(400, `{"__type":"a#ThrottlingException","message":"Signature expired: x"}`)
	f.Add(503, `<Error><Code>SlowDown</Code><ServerTime>2026-11-22T14:00:00Z</ServerTime></Error>`)
	f.Add(403, `{"a":[1,{"b":"c"}],"code":"RequestTimeTooSkewed"}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		resp := response(status, nil, body)
		Classify(resp)
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, []byte(body)) {
			t.Fatalf("body not restored: %q, %v", got, err)
		}
	})
}

// TestClassifyFallsBackToXAmzErrorCode: an answer with no body (a HEAD)
// may name its error only in X-Amz-Error-Code; a code in X-Amzn-ErrorType
// or the body comes first.
func TestClassifyFallsBackToXAmzErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		code   string
	}{
		{"header only", http.Header{"X-Amz-Error-Code": {"ExpiredToken"}}, "", "ExpiredToken"},
		{"decorated", http.Header{"X-Amz-Error-Code": {"SlowDown:http://internal.amazon.com/"}}, "", "SlowDown"},
		{"body first", http.Header{"X-Amz-Error-Code": {"ExpiredToken"}}, `<Error><Code>SlowDown</Code></Error>`, "SlowDown"},
		{"x-amzn-errortype first", http.Header{"X-Amz-Error-Code": {"ExpiredToken"}, "X-Amzn-Errortype": {"ThrottlingException"}}, "", "ThrottlingException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := response(http.StatusForbidden, tc.header, tc.body)
			if tc.body == "" {
				resp.Body = http.NoBody
			}
			if o := Classify(resp); o.Code != tc.code {
				t.Errorf("Code = %q, want %q", o.Code, tc.code)
			}
		})
	}
}
