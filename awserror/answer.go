package awserror

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"time"
)

// Answer is what an error answer from AWS or an S3-compatible server says:
// its code and message and, when the server returns them, the canonical
// request and string to sign it computed. Message may quote a signature:
// print SafeMessage instead.
type Answer struct {
	// Code is the AWS error code without decorations (see CodeName).
	Code    string
	Message string
	// CanonicalRequest and StringToSign are the server's, from S3-style
	// <CanonicalRequest>/<StringToSign> elements (or their *Bytes hex
	// forms), or from the "should have been" text of AWS query and JSON APIs.
	CanonicalRequest string
	StringToSign     string
	AccessKeyID      string
	RequestID        string
	// ServerTime is the server's clock from an S3 <ServerTime>, when given.
	ServerTime time.Time
}

// Read reads an error answer from its headers and a prefix of its body. The
// code is, first found: the x-amzn-ErrorType header (JSON protocols), the
// body's code, the X-Amz-Error-Code header (REST answers without a body,
// such as a HEAD's). header may be nil. Safe for concurrent use.
// https://smithy.io/2.0/aws/protocols/aws-restjson1-protocol.html#operation-error-serialization
func Read(header http.Header, body []byte) Answer {
	a, _ := Parse(body)
	if code := CodeName(header.Get("X-Amzn-Errortype")); code != "" {
		a.Code = code
	}
	if a.Code == "" {
		a.Code = CodeName(header.Get("X-Amz-Error-Code"))
	}
	return a
}

// Parse reads an XML (<Error><Code>, <ErrorResponse><Error><Code>) or JSON
// (__type/code, message) error body. It tokenizes instead of unmarshalling,
// so a body cut short, as a bounded prefix may be, yields what was read
// before the cut. It reports false when the body holds no error code or
// message at all.
func Parse(body []byte) (Answer, bool) {
	var a Answer
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return a, false
	case trimmed[0] == '{':
		a.Code, a.Message = parseJSON(trimmed)
	case trimmed[0] == '<':
		a = parseXML(trimmed)
	default:
		return a, false
	}
	a.Code = CodeName(a.Code)
	a.Message = strings.TrimSpace(a.Message)
	if a.CanonicalRequest == "" || a.StringToSign == "" {
		cr, sts := shouldHaveBeen(a.Message)
		if a.CanonicalRequest == "" {
			a.CanonicalRequest = cr
		}
		if a.StringToSign == "" {
			a.StringToSign = sts
		}
	}
	return a, a.Code != "" || a.Message != ""
}

// parseXML reads the elements of an error document by their local name,
// at any depth: S3's <Error>, the query protocol's
// <ErrorResponse><Error>, EC2's <Response><Errors><Error>. The first
// non-empty occurrence of each wins.
func parseXML(body []byte) Answer {
	var a Answer
	var crBytes, stsBytes, serverTime string
	field := func(name string) *string {
		switch name {
		case "Code":
			return &a.Code
		case "Message":
			return &a.Message
		case "CanonicalRequest":
			return &a.CanonicalRequest
		case "StringToSign":
			return &a.StringToSign
		case "CanonicalRequestBytes":
			return &crBytes
		case "StringToSignBytes":
			return &stsBytes
		case "AWSAccessKeyId":
			return &a.AccessKeyID
		case "RequestId", "RequestID":
			return &a.RequestID
		case "ServerTime":
			return &serverTime
		}
		return nil
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = false
	var current *string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			current = nil
			if p := field(t.Name.Local); p != nil && *p == "" {
				current = p
				text.Reset()
			}
		case xml.CharData:
			if current != nil {
				text.Write(t)
			}
		case xml.EndElement:
			if current != nil {
				*current = text.String()
				current = nil
			}
		}
	}
	if a.CanonicalRequest == "" {
		a.CanonicalRequest = fromHexBytes(crBytes)
	}
	if a.StringToSign == "" {
		a.StringToSign = fromHexBytes(stsBytes)
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(serverTime)); err == nil {
		a.ServerTime = t
	}
	return a
}

// parseJSON reads the code and message members of a JSON error document's
// top-level object, whatever their case: the code from __type, else code,
// else errorType; the message from message, else errorMessage. Nested
// values are skipped.
// https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html#operation-error-serialization
func parseJSON(body []byte) (code, message string) {
	var codes [3]string // __type, code, errortype
	var messages [2]string
	defer func() {
		code = firstNonEmpty(codes[:])
		message = firstNonEmpty(messages[:])
	}()
	dec := json.NewDecoder(bytes.NewReader(body))
	depth := 0
	var key string
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return
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
				var slot *string
				switch strings.ToLower(key) {
				case "__type":
					slot = &codes[0]
				case "code":
					slot = &codes[1]
				case "errortype":
					slot = &codes[2]
				case "message":
					slot = &messages[0]
				case "errormessage":
					slot = &messages[1]
				}
				if slot != nil && *slot == "" {
					*slot = t
				}
			}
		}
		if depth == 1 {
			expectKey = true
			key = ""
		}
	}
}

func firstNonEmpty(s []string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// fromHexBytes decodes S3's "41 57 53 34 ..." byte dumps.
func fromHexBytes(s string) string {
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(b)
}

// shouldHaveBeen extracts the canonical request and string to sign that AWS
// query and JSON APIs quote in a SignatureDoesNotMatch message:
//
//	The Canonical String for this request should have been
//	'POST
//	/
//	...'
//
//	The String-to-Sign should have been
//	'AWS4-HMAC-SHA256
//	...'
func shouldHaveBeen(msg string) (canonical, stringToSign string) {
	const crMark = "The Canonical String for this request should have been\n'"
	const stsMark = "The String-to-Sign should have been\n'"
	if i := strings.Index(msg, crMark); i >= 0 {
		rest := msg[i+len(crMark):]
		end := strings.Index(rest, "'\n\nThe String-to-Sign")
		if end < 0 {
			end = strings.LastIndexByte(rest, '\'')
		}
		if end >= 0 {
			canonical = rest[:end]
		}
	}
	if i := strings.Index(msg, stsMark); i >= 0 {
		rest := msg[i+len(stsMark):]
		if end := strings.LastIndexByte(rest, '\''); end >= 0 {
			stringToSign = rest[:end]
		}
	}
	return canonical, stringToSign
}

// SafeMessage is Message with anything that looks like a signature and any
// quoted canonical request cut out, fit for a log line.
func (a Answer) SafeMessage() string {
	msg := a.Message
	if i := strings.Index(msg, "The Canonical String for this request"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " (canonical request and string to sign quoted by the server: see the diff)"
	} else if i := strings.Index(msg, "The String-to-Sign should have been"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " (string to sign quoted by the server)"
	}
	return redactAuthorizationText(msg)
}

// redactAuthorizationText hides signature and token values in text an
// error body quotes from the request.
func redactAuthorizationText(s string) string {
	for _, key := range []string{"Signature=", "X-Amz-Signature=", "X-Amz-Security-Token=", "x-amz-security-token:", "x-amz-security-token=", "x-amz-s3session-token:"} {
		var b strings.Builder
		rest := s
		for {
			i := strings.Index(rest, key)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:i+len(key)])
			rest = rest[i+len(key):]
			end := strings.IndexAny(rest, ", &'\"\n<")
			if end < 0 {
				end = len(rest)
			}
			if end > 0 {
				b.WriteString("<redacted>")
			}
			rest = rest[end:]
		}
		s = b.String()
	}
	return s
}
